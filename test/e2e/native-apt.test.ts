// Native apt packages, end to end: on the Debian bookworm test base (debootstrap, cached by the
// fixture) pushed to a local docker-registry, the native builder resolves curl and jq from
// deb.debian.org (InRelease verified with the base's keyring), lays the .debs into one layer,
// pushes, and podman (runc) runs the image. The arm64 variant is built on this amd64 machine and
// its binaries checked by ELF machine type. Postinst effects (alternatives merged with the base's,
// dpkg's own update-alternatives reading the result) and the warning for what is not done; the
// layer found again in the local and the registry step cache; builderOptions.aptMirror through a
// local mirror (a pass-through to deb.debian.org) that can also serve an altered InRelease.
// Indexes and .debs are cached across runs under the test cache (~/.cache/imagespec-test/apt-e2e);
// every run builds the apt layer afresh.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { mkdir, stat, symlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { buildSpec, describePlan, planBuild, type BuildEvent, type BuildOptions } from "../../src/build/index.js";
import { indexFromImages, type Platform } from "../../src/oci/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { debianPythonBase, testCacheRoot, type DebianBase } from "../support/debian-base.js";
import { podmanRun } from "../support/podman.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, runOk, tempDir } from "../support/tools.js";

/**
 * A Debian mirror on 127.0.0.1 that passes every request on to deb.debian.org and records the
 * paths; with `tamper`, the InRelease it serves has one character of its signed text changed.
 */
async function startMirror(): Promise<{ url: string; paths: string[]; tamper: boolean; stop(): Promise<void> }> {
  const state = { paths: [] as string[], tamper: false };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? "/";
    state.paths.push(path);
    fetch(`http://deb.debian.org${path}`)
      .then(async (upstream) => {
        let body = Buffer.from(await upstream.arrayBuffer());
        if (state.tamper && upstream.ok && path.endsWith("/InRelease")) body = Buffer.from(body.toString("utf8").replace("Label: Debian", "Label: Debiam"), "utf8");
        res.writeHead(upstream.status, { "content-length": String(body.length) });
        res.end(body);
      })
      .catch(() => {
        res.writeHead(502);
        res.end();
      });
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/debian`,
    get paths() {
      return state.paths;
    },
    get tamper() {
      return state.tamper;
    },
    set tamper(value: boolean) {
      state.tamper = value;
    },
    stop: () => new Promise<void>((done) => server.close(() => done())),
  };
}

async function readAll(stream: AsyncIterable<unknown> | Promise<AsyncIterable<unknown>>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("native builder: apt packages on a Debian base", { timeout: 300_000 }, () => {
  let reg: TestRegistry;
  let registry: Registry;
  let work: string;
  let cache: string;
  let amd64: DebianBase;
  let arm64: DebianBase;
  const base = () => `${reg.host}/debian/python:3.11`;

  before(async () => {
    const started = Date.now();
    [amd64, arm64] = await Promise.all([debianPythonBase({ arch: "amd64" }), debianPythonBase({ arch: "arm64" })]);
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir("imagespec-e2e-apt-");
    // A fresh build cache each run, but the downloaded indexes and .debs (apt/) are kept across runs.
    cache = join(work, "cache");
    const kept = join(testCacheRoot(), "apt-e2e", "apt");
    await mkdir(kept, { recursive: true });
    await mkdir(cache, { recursive: true });
    await symlink(kept, join(cache, "apt"));
    await registry.copy(amd64.ref, `${reg.host}/debian/python:amd64`);
    await registry.copy(arm64.ref, `${reg.host}/debian/python:arm64`);
    const images = await Promise.all(
      [amd64, arm64].map(async (b) => ({ image: await registry.getImage(`${reg.host}/debian/python:${b.arch}`, b.platform), platform: b.platform as Platform })),
    );
    await registry.push(base(), indexFromImages(images));
    process.stderr.write(`[native-apt] fixtures ready in ${Date.now() - started} ms\n`);
  });
  after(async () => {
    await registry?.close();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  function spec(extra: Record<string, unknown> = {}): ImageSpec {
    return new ImageSpec({ name: "apt-app", registry: `${reg.host}/team`, baseImage: base(), aptPackages: ["curl", "jq"], ...extra }, { baseDir: work });
  }

  async function build(s: ImageSpec, options: BuildOptions = {}): Promise<{ result: Awaited<ReturnType<typeof buildSpec>>; events: BuildEvent[]; ms: number }> {
    const events: BuildEvent[] = [];
    const started = Date.now();
    const result = await buildSpec(s, { registry, cacheDir: cache, ...options, onEvent: (e) => events.push(e) });
    return { result, events, ms: Date.now() - started };
  }

  const stepCacheEvents = (events: BuildEvent[]) => events.filter((e): e is Extract<BuildEvent, { kind: "step-cache" }> => e.kind === "step-cache");
  const aptEvents = (events: BuildEvent[]) => events.filter((e): e is Extract<BuildEvent, { kind: "apt" }> => e.kind === "apt");

  it("plans an apt step between the base and the config", async () => {
    const plan = await planBuild(spec(), { preview: false });
    assert.deepEqual(plan.blockers, []);
    assert.deepEqual(plan.steps.map((s) => s.kind), ["base", "apt", "config"]);
    assert.match(describePlan(plan), /^2\. apt {7}curl, jq \(resolved at build time from the base's apt sources\)$/m);
  });

  it("installs curl and jq natively; the image runs both and dpkg knows them", async () => {
    const built = await build(spec());
    process.stderr.write(`[native-apt] amd64 build ${built.ms} ms\n`);
    assert.equal(built.result.status, "built");
    const [apt] = aptEvents(built.events);
    assert.ok(apt, "an apt event");
    assert.equal(apt.platform, "linux/amd64");
    assert.equal(apt.source, "built");
    for (const name of ["curl", "jq", "libcurl4", "libjq1", "libonig5"]) assert.ok(apt.packages.some((p) => p.startsWith(`${name}=`)), `${name} in ${apt.packages.join(" ")}`);
    // What the base has (libc6, zlib1g, libssl3, ca-certificates ...) is not installed again.
    assert.ok(!apt.packages.some((p) => /^(libc6|zlib1g|libssl3|ca-certificates)=/.test(p)), apt.packages.join(" "));

    const script = [
      "set -e",
      "curl --version | head -1",
      "jq --version",
      "echo '{\"a\":[1,2,3]}' | jq -c '.a | map(. * 2)'",
      "dpkg -s jq | grep '^Status:'",
      "dpkg -l curl | tail -1 | cut -c1-2",
      "test ! -L /usr/bin/curl && test -L /bin && readlink /bin",
    ].join("\n");
    const ran = await podmanRun(built.result.image, ["/bin/sh", "-c", script]);
    assert.equal(ran.code, 0, ran.stderr);
    const lines = ran.stdout.trim().split("\n");
    assert.match(lines[0]!, /^curl 7\.88\.1 \(x86_64-pc-linux-gnu\) libcurl\/7\.88\.1/);
    assert.match(lines[1]!, /^jq-1\.6/);
    assert.deepEqual(lines.slice(2), ["[2,4,6]", "Status: install ok installed", "ii", "usr/bin"]);

    // One apt layer on top of the reused base layer, named in the history; nothing to warn about.
    const image = await registry.getImage(built.result.image);
    assert.equal(image.layers.length, 2);
    assert.equal(image.layers[0]!.descriptor.digest, amd64.layerDigest);
    const config = JSON.parse((await readAll(image.config.open())).toString("utf8")) as { history: { created_by?: string }[] };
    assert.equal(config.history.at(-2)?.created_by, `imagespec: apt curl jq (${apt.packages.length} packages)`);
    assert.deepEqual(built.events.filter((e) => e.kind === "warning"), []);
    // After the push, the layer is recorded in the repository for runners with an empty disk.
    assert.deepEqual(
      stepCacheEvents(built.events).map((e) => [e.step, e.platform, e.status]),
      [["apt", "linux/amd64", "stored"]],
    );
  });

  it("builds linux/arm64 on this amd64 machine: the layer's binaries are AArch64", async () => {
    const built = await build(spec({ platform: "linux/arm64" }));
    process.stderr.write(`[native-apt] arm64 build ${built.ms} ms\n`);
    assert.deepEqual(aptEvents(built.events).map((e) => e.platform), ["linux/arm64"]);
    const image = await registry.getImage(built.result.image, "linux/arm64");
    const file = join(work, "apt-arm64.tar.gz");
    await pipeline(await image.layers[1]!.open(), createWriteStream(file));
    const listing = (await runOk("tar", ["-tzf", file])).stdout.split("\n").filter(Boolean);
    assert.ok(listing.includes("usr/bin/jq") && listing.includes("usr/bin/curl"));
    assert.ok(listing.includes("usr/lib/aarch64-linux-gnu/libjq.so.1.0.4"), "the arm64 library folder");
    assert.ok(!listing.some((p) => p.includes("x86_64")), "nothing of amd64");
    assert.ok(!listing.some((p) => /^(bin|lib|sbin)\//.test(p)), "no directory over the merged-/usr links");
    for (const binary of ["usr/bin/jq", "usr/bin/curl"]) {
      const header = Buffer.from((await runOk("bash", ["-c", `tar -xzOf "$1" "$2" | head -c 20 | od -An -tx1`, "bash", file, binary])).stdout.replace(/\s+/g, ""), "hex");
      assert.equal(header.subarray(0, 4).toString("latin1"), "\x7fELF");
      assert.equal(header.readUInt16LE(18), 0xb7, `${binary}: e_machine AArch64`);
    }
  });

  it("builds the same amd64 layer from the local step cache without downloading", async () => {
    const again = await build(spec({ env: { CHANGED: "1" } }));
    const [apt] = aptEvents(again.events);
    assert.equal(apt?.source, "local-cache");
    const first = await registry.getImage((await build(spec())).result.image);
    const second = await registry.getImage(again.result.image);
    assert.equal(second.layers[1]!.descriptor.digest, first.layers[1]!.descriptor.digest);
  });

  it("finds the layer in the registry's step cache on a machine with an empty cache, and builds nothing", async () => {
    const first = await registry.getImage((await build(spec())).result.image);
    const empty = join(work, "empty-cache");
    await mkdir(empty, { recursive: true });
    // The indexes and .debs stay shared (they would be fetched again otherwise); steps/ and layers/ are empty.
    await symlink(join(testCacheRoot(), "apt-e2e", "apt"), join(empty, "apt"));
    const fresh = await build(spec({ env: { RUNNER: "fresh" } }), { cacheDir: empty });
    const [apt] = aptEvents(fresh.events);
    assert.equal(apt?.source, "registry-cache");
    const layer = first.layers[1]!.descriptor.digest;
    assert.equal((await registry.getImage(fresh.result.image)).layers[1]!.descriptor.digest, layer);
    // Nothing was built on this machine: no layer file, no step record.
    await assert.rejects(stat(join(empty, "layers", `sha256-${layer.slice("sha256:".length)}`)), { code: "ENOENT" });
    await assert.rejects(stat(join(empty, "steps")), { code: "ENOENT" });
    // The entry was there already: nothing is stored again.
    assert.deepEqual(stepCacheEvents(fresh.events), []);
  });

  it("applies the effects of postinst scripts it can, and warns about the rest, naming the package", async () => {
    const built = await build(spec({ aptPackages: ["less", "sudo"] }));
    const [apt] = aptEvents(built.events);
    assert.deepEqual(apt?.packages.map((p) => p.split("=")[0]), ["less", "sudo"]);
    // less's postinst: update-alternatives --install /usr/bin/pager pager /usr/bin/less 77, merged with the base's /bin/more (50).
    // sudo's: chown/chmod/systemd-tmpfiles, which are not done (the binary is setuid in the .deb already).
    const script = [
      "set -e",
      "readlink -f /usr/bin/pager",
      "pager --version | head -1 | cut -d' ' -f1",
      "update-alternatives --query pager | grep -E '^(Status|Best|Value):'",
      "update-alternatives --list pager",
      "stat -c %a /usr/bin/sudo",
      "sudo --version | head -1",
    ].join("\n");
    const ran = await podmanRun(built.result.image, ["/bin/sh", "-c", script]);
    assert.equal(ran.code, 0, ran.stderr);
    const lines = ran.stdout.trim().split("\n");
    assert.deepEqual(lines.slice(0, 8), ["/usr/bin/less", "less", "Status: auto", "Best: /usr/bin/less", "Value: /usr/bin/less", "/bin/more", "/usr/bin/less", "4755"]);
    assert.match(lines[8]!, /^Sudo version 1\.9\.13/);
    assert.equal(lines.length, 9);
    const warnings = built.events.filter((e): e is Extract<BuildEvent, { kind: "warning" }> => e.kind === "warning").map((e) => e.message);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0]!, /^apt \(linux\/amd64\): sudo's postinst runs chmod, chown, systemd-tmpfiles, which the native builder does not run; if the image needs what it does, build with a Dockerfile builder$/);
  });

  it("fetches through builderOptions.aptMirror, and refuses an InRelease altered after signing", async () => {
    const mirror = await startMirror();
    try {
      const viaMirror = await build(spec({ builderOptions: { aptMirror: mirror.url }, env: { MIRROR: "1" } }));
      assert.ok(mirror.paths.includes("/debian/dists/bookworm/InRelease"), mirror.paths.join(" "));
      // The same packages make the same layer, whoever served them: the step key has no mirror in it.
      const [apt] = aptEvents(viaMirror.events);
      assert.equal(apt?.source, "local-cache");
      const direct = await registry.getImage((await build(spec())).result.image);
      assert.equal((await registry.getImage(viaMirror.result.image)).layers[1]!.descriptor.digest, direct.layers[1]!.descriptor.digest);

      mirror.tamper = true;
      await assert.rejects(build(spec({ builderOptions: { aptMirror: mirror.url }, env: { MIRROR: "2" } })), (error: Error & { code?: string }) => {
        assert.equal(error.code, "APT_SIGNATURE_INVALID");
        assert.match(error.message, new RegExp(`^${mirror.url.replace(/[.]/g, "\\.")}/dists/bookworm/InRelease: bad OpenPGP signature`));
        return true;
      });
    } finally {
      await mirror.stop();
    }
  });

  it("adds no layer when the base has every requested package already", async () => {
    const built = await build(spec({ aptPackages: ["ca-certificates", "python3"] }));
    const [apt] = aptEvents(built.events);
    assert.equal(apt?.source, "installed");
    assert.deepEqual(apt.packages, []);
    assert.deepEqual(apt.alreadyInstalled.map((p) => p.split(" ")[0]), ["ca-certificates", "python3"]);
    assert.deepEqual(apt.alreadyInstalled.map((p) => p.split(" ")[1]), [amd64.packages["ca-certificates"], amd64.packages["python3"]]);
    const image = await registry.getImage(built.result.image);
    assert.deepEqual(image.layers.map((l) => l.descriptor.digest), [amd64.layerDigest]);
    assert.deepEqual(stepCacheEvents(built.events), []);
  });

  it("says clearly when a package is missing or a version impossible", async () => {
    await assert.rejects(build(spec({ aptPackages: ["jqq"] })), (error: Error & { code?: string }) => {
      assert.equal(error.code, "APT_PACKAGE_NOT_FOUND");
      assert.equal(error.message, 'package jqq is not in the archive for amd64; did you mean "jq"?');
      return true;
    });
    await assert.rejects(build(spec({ aptPackages: ["curl", "jq=99.0"] })), (error: Error & { code?: string }) => {
      assert.equal(error.code, "APT_VERSION_NOT_FOUND");
      assert.match(error.message, /^jq=99\.0: the archive has no version 99\.0 of jq for amd64 \(it has 1\.6-2\.1\+deb12u\d+\)$/);
      return true;
    });
  });
});
