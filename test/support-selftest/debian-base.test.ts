// Self-test of the Debian base fixture (test/support/debian-base.ts) and the podman runner
// (test/support/podman.ts): the amd64 base goes through imagespec's registry client into a plain
// test registry and really runs python3 under podman + runc; the arm64 base carries an aarch64
// python3 and a dpkg status; the cache is shared between processes and built once.
// Cold (both bases built, in parallel): about 2 min; warm: about 20 s.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createGunzip } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import { isImageIndex, readLayout, type ImageConfig } from "../../src/oci/index.js";
import { defaultKeychain, Registry } from "../../src/registry/index.js";
import { cachedFixture, debianPythonBase, type DebianArch, type DebianBase } from "../support/debian-base.js";
import { podmanAvailable, podmanRun, podmanSession, stopPodman } from "../support/podman.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, run, skopeo, tempDir } from "../support/tools.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

interface LayerScan {
  entries: number;
  types: Record<string, number>;
  /** First 64 bytes of each wanted file. */
  heads: Map<string, Buffer>;
  /** Whole text of each wanted text file. */
  texts: Map<string, string>;
}

/** Reads the base's one layer (gzip tar) from the layout and picks out a few files. */
async function scanLayer(base: DebianBase, binaries: string[], textFiles: string[]): Promise<{ scan: LayerScan; config: ImageConfig; layers: number }> {
  const image = await readLayout(base.layoutDir, { tag: base.tag });
  assert.ok(!isImageIndex(image), "the base is a single image");
  const config = JSON.parse((await streamToBuffer(await image.config.open())).toString("utf8")) as ImageConfig;
  const scan: LayerScan = { entries: 0, types: {}, heads: new Map(), texts: new Map() };
  const layer = image.layers[0]!;
  const ex = tarExtract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on("entry", (header, stream, next) => {
      scan.entries++;
      scan.types[header.type ?? "?"] = (scan.types[header.type ?? "?"] ?? 0) + 1;
      const name = header.name.replace(/^\.\//, "");
      const wantHead = binaries.includes(name);
      const wantText = textFiles.includes(name);
      const chunks: Buffer[] = [];
      let got = 0;
      stream.on("data", (chunk: unknown) => {
        const c = chunk as Buffer;
        if (wantText || (wantHead && got < 64)) {
          chunks.push(c);
          got += c.length;
        }
      });
      stream.on("end", () => {
        const data = Buffer.concat(chunks);
        if (wantHead) scan.heads.set(name, data.subarray(0, 64));
        if (wantText) scan.texts.set(name, data.toString("utf8"));
        next();
      });
      stream.on("error", reject);
    });
    ex.on("finish", resolve);
    ex.on("error", reject);
  });
  const source = await layer.open();
  source.pipe(createGunzip()).on("error", (e) => ex.destroy(e)).pipe(ex);
  await done;
  return { scan, config, layers: image.layers.length };
}

async function streamToBuffer(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** ELF e_machine of a 64-bit little-endian ELF header. */
function elfMachine(head: Buffer): number {
  assert.ok(head.length >= 20, "ELF header too short");
  assert.deepEqual([...head.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], "ELF magic");
  assert.equal(head[4], 2, "ELFCLASS64");
  assert.equal(head[5], 1, "little-endian");
  return head.readUInt16LE(18);
}

function statusParagraph(status: string, pkg: string): string {
  const para = status.split(/\n\s*\n/).find((p) => new RegExp(`^Package: ${pkg.replace(/[.+]/g, "\\$&")}$`, "m").test(p));
  assert.ok(para, `dpkg status has ${pkg}`);
  return para;
}

async function getBase(t: { diagnostic(msg: string): void }, arch: DebianArch): Promise<DebianBase> {
  const started = Date.now();
  const base = await debianPythonBase({ arch });
  const took = Date.now() - started;
  t.diagnostic(
    `${arch} base ${base.fromCache ? `from cache in ${took} ms` : `built cold in ${(base.buildMs / 1000).toFixed(1)} s`}: ${base.digest} (${base.cacheDir})`,
  );
  return base;
}

describe("debianPythonBase", () => {
  let reg: TestRegistry;

  before(async () => {
    // Both bases build at once when cold (debootstrap waits on the network much of the time).
    for (const arch of ["amd64", "arm64"] as const) debianPythonBase({ arch }).catch(() => undefined);
    reg = await startRegistry({ mode: "plain" });
  });

  after(async () => {
    await stopPodman();
    await reg?.stop();
  });

  test("podman and runc work here (no skipping: a missing podman fails)", async () => {
    const info = await podmanAvailable();
    assert.match(info.podmanVersion, /podman version \d/);
    assert.match(info.runcVersion, /runc version \d/);
    const session = await podmanSession();
    // All of podman's state is in the session dir, none in the host's default storage.
    assert.ok(existsSync(join(session.dir, "root", `${session.storageDriver}-images`)), "image store in the session dir");
    const args = session.globalArgs();
    for (const flag of ["--root", "--runroot", "--tmpdir", "--network-config-dir", "--runtime"]) {
      const value = args[args.indexOf(flag) + 1] ?? "";
      assert.ok(value.startsWith(session.dir + "/"), `${flag} ${value} is in the session dir`);
    }
  });

  test("amd64: pushed with Registry.copy, runs python3 3.11 under podman; one layer, linux/amd64", async (t) => {
    const base = await getBase(t, "amd64");
    assert.equal(base.arch, "amd64");
    assert.match(base.ref, /^oci:\/.+:bookworm$/);
    assert.match(base.packages["python3.11"] ?? "", /^3\.11\./);

    const registry = new Registry({ keychain: defaultKeychain({ env: { HOME: "/nonexistent-imagespec-home" } }) });
    const dest = `${reg.host}/debian/python:3.11`;
    const copied = await registry.copy(base.ref, dest);
    assert.equal(copied.digest, base.digest);

    reg.resetRequests();
    const r = await podmanRun(dest, ["python3", "-c", "import sys; print(sys.version_info[:2])"], { registryHost: reg.host });
    assert.equal(r.code, 0, `podman run failed: ${r.stderr}`);
    assert.equal(r.stdout.trim(), "(3, 11)");
    // podman pulled it from the plain-HTTP registry.
    const pulls = (await reg.requests()).filter((q) => q.method === "GET" && q.path.startsWith("/v2/debian/python/"));
    assert.ok(pulls.some((q) => q.path === "/v2/debian/python/manifests/3.11" && q.status === 200), JSON.stringify(pulls));

    // Short names are looked up in registryHost; env reaches the process; the CA bundle (made by
    // ca-certificates' postinst, so proof the native build ran maintainer scripts) is there.
    const r2 = await podmanRun(
      "debian/python:3.11",
      ["python3", "-c", "import os; print(os.environ['IMAGESPEC_X'], os.path.exists('/etc/ssl/certs/ca-certificates.crt'))"],
      { registryHost: reg.host, env: { IMAGESPEC_X: "hello" } },
    );
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout.trim(), "hello True");

    const inspect = await skopeo(["inspect", ...reg.skopeoArgs("single"), reg.ref("debian/python:3.11")]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const info = JSON.parse(inspect.stdout) as { Layers: string[]; Os: string; Architecture: string; Digest: string; Env: string[] };
    assert.equal(info.Layers.length, 1);
    assert.deepEqual(info.Layers, [base.layerDigest]);
    assert.equal(info.Os, "linux");
    assert.equal(info.Architecture, "amd64");
    assert.equal(info.Digest, base.digest);
    assert.ok(info.Env.some((e) => e.startsWith("PATH=")));

    const { scan, config } = await scanLayer(base, ["usr/bin/python3.11"], ["var/lib/dpkg/status"]);
    assert.equal(elfMachine(scan.heads.get("usr/bin/python3.11")!), 62, "x86-64");
    assert.deepEqual(config.config?.Cmd, ["python3"]);
    assert.equal(config.rootfs.diff_ids[0], base.diffId);
    // No device nodes, fifos or sockets in the layer; /dev is an empty directory.
    for (const type of ["block-device", "character-device", "fifo", "socket"]) assert.equal(scan.types[type], undefined, type);
    assert.match(statusParagraph(scan.texts.get("var/lib/dpkg/status")!, "python3.11"), /^Status: install ok installed$/m);
  });

  test("arm64: python3 in the layer is an aarch64 ELF; dpkg status lists the arm64 packages", async (t) => {
    const base = await getBase(t, "arm64");
    const { scan, config, layers } = await scanLayer(base, ["usr/bin/python3.11", "usr/bin/dpkg"], ["var/lib/dpkg/status", "etc/passwd"]);
    assert.equal(layers, 1);
    assert.equal(config.architecture, "arm64");
    assert.equal(config.variant, "v8");
    assert.equal(config.os, "linux");
    const python = scan.heads.get("usr/bin/python3.11");
    assert.ok(python, "usr/bin/python3.11 is in the layer as a regular file");
    assert.equal(elfMachine(python), 183, "EM_AARCH64");
    assert.equal(elfMachine(scan.heads.get("usr/bin/dpkg")!), 183, "Essential packages are arm64 too");
    const status = scan.texts.get("var/lib/dpkg/status")!;
    for (const pkg of ["python3", "python3.11", "python3.11-minimal", "libpython3.11-stdlib", "ca-certificates", "libc6", "dpkg"]) {
      const para = statusParagraph(status, pkg);
      assert.match(para, /^Status: install ok installed$/m, pkg);
      assert.match(para, /^Architecture: (arm64|all)$/m, pkg);
    }
    assert.match(statusParagraph(status, "base-files"), /^Conffiles:\n \/etc\/\S+ [0-9a-f]{32}$/m);
    assert.match(scan.texts.get("etc/passwd") ?? "", /^root:\*:0:0:/m);
    for (const type of ["block-device", "character-device", "fifo", "socket"]) assert.equal(scan.types[type], undefined, type);
    assert.equal(base.packages["python3.11"], /^Version: (\S+)$/m.exec(statusParagraph(status, "python3.11"))?.[1]);
  });

  test("the cache is shared across processes: a second process gets both bases without building", async () => {
    const script = [
      `import { debianPythonBase } from ${JSON.stringify(join(repoRoot, "test/support/debian-base.ts"))};`,
      "const t0 = Date.now();",
      "const [a, b] = await Promise.all([debianPythonBase({ arch: 'amd64' }), debianPythonBase({ arch: 'arm64' })]);",
      "console.log(JSON.stringify({ ms: Date.now() - t0, a: [a.fromCache, a.digest], b: [b.fromCache, b.digest] }));",
    ].join("\n");
    const r = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: repoRoot, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { ms: number; a: [boolean, string]; b: [boolean, string] };
    const amd64 = await debianPythonBase({ arch: "amd64" });
    const arm64 = await debianPythonBase({ arch: "arm64" });
    assert.deepEqual(out.a, [true, amd64.digest]);
    assert.deepEqual(out.b, [true, arm64.digest]);
    assert.ok(out.ms < 5000, `warm lookup took ${out.ms} ms`);
  });
});

describe("cachedFixture (the cache's lock and atomic publish)", () => {
  let root: string;
  before(async () => {
    root = await tempDir("imagespec-fixture-cache-");
  });
  after(async () => {
    await removeDir(root);
  });

  const writeReady = async (out: string, text: string) => {
    await writeFile(join(out, "payload"), text);
    await writeFile(join(out, "fixture.json"), "{}\n");
  };

  test("concurrent callers: one builds, the others wait and reuse it", async () => {
    const entry = join(root, "concurrent");
    let builds = 0;
    const build = async (out: string) => {
      builds++;
      await new Promise((r) => setTimeout(r, 400));
      await writeReady(out, "one");
    };
    const results = await Promise.all([1, 2, 3].map(() => cachedFixture(entry, build, { pollMs: 50 })));
    assert.equal(builds, 1);
    assert.deepEqual(results.map((r) => r.built).sort(), [false, false, true]);
    assert.equal(await readFile(join(entry, "payload"), "utf8"), "one");
    assert.ok(!existsSync(`${entry}.lock`), "lock released");
    assert.deepEqual((await readdir(root)).filter((n) => n.startsWith(".build-")), [], "no scratch dirs left");
    assert.deepEqual(await cachedFixture(entry, build), { built: false });
    assert.equal(builds, 1);
  });

  test("a failed build publishes nothing and releases the lock; a dead holder's lock is broken", async () => {
    const entry = join(root, "failing");
    await assert.rejects(
      cachedFixture(entry, async (out, work) => {
        await mkdir(join(work, "rootfs"));
        await writeFile(join(out, "half"), "x");
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.ok(!existsSync(entry));
    assert.ok(!existsSync(`${entry}.lock`));
    assert.deepEqual((await readdir(root)).filter((n) => n.startsWith(".build-")), []);

    // A lock left by a process that no longer exists (and its scratch dir) does not block.
    await writeFile(`${entry}.lock`, JSON.stringify({ pid: 2 ** 30, host: (await import("node:os")).hostname(), started: "2000-01-01T00:00:00Z" }));
    await mkdir(join(root, `.build-${2 ** 30}-dead-failing`, "out"), { recursive: true });
    const r = await cachedFixture(entry, (out) => writeReady(out, "two"), { pollMs: 20, waitTimeoutMs: 5000 });
    assert.deepEqual(r, { built: true });
    assert.equal(await readFile(join(entry, "payload"), "utf8"), "two");
    assert.deepEqual((await readdir(root)).filter((n) => n.startsWith(".build-")), [], "stale scratch dir swept");
  });

  test("a live holder is waited for until the timeout, with a message naming it", async () => {
    const entry = join(root, "held");
    await writeFile(`${entry}.lock`, JSON.stringify({ pid: process.pid, host: (await import("node:os")).hostname(), started: "now" }));
    await assert.rejects(cachedFixture(entry, (out) => writeReady(out, "x"), { pollMs: 20, waitTimeoutMs: 200 }), new RegExp(`held by pid ${process.pid}`));
  });
});
