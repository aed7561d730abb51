// A big files layer bound for a registry goes there as it is compressed and is never copied to the
// cache dir (files-layer.ts), against a real docker-registry behind the fault proxy: the image is
// whole, the next build finds the layer in the registry by one HEAD, a registry that lost it gets
// it made again, an upload cut off is finished by the push from bytes made again, and a source
// changed in between fails the push instead of entering an image.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { buildSpec, type BuildEvent } from "../../src/build/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { assertNoBrokenTag, startFaultProxy, uploadedDigests, type FaultProxy } from "../support/fault-proxy.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, runOk, tempDir } from "../support/tools.js";
import { registryFor, sha256 } from "../registry/util.js";
import { imagespecCli } from "../support/cli.js";

const UPLOAD_ONLY_BYTES = 16 << 20;
const DATA_BYTES = 24 << 20;

let reg: TestRegistry;
let proxy: FaultProxy;
let registry: Registry;
let direct: Registry;
let work: string;
let seq = 0;

before(async () => {
  reg = await startRegistry({ mode: "plain" });
  proxy = await startFaultProxy(reg);
  registry = registryFor(reg, { retry: { baseDelayMs: 5, maxDelayMs: 50 } }).registry;
  direct = registryFor(reg).registry;
  work = await tempDir("imagespec-upload-only-");
});
after(async () => {
  await registry?.close();
  await direct?.close();
  await proxy?.stop();
  await reg?.stop();
  await removeDir(work);
});
beforeEach(() => {
  proxy.setRules([]);
  proxy.resetRequests();
});

interface Project {
  readonly dir: string;
  readonly name: string;
  readonly data: Buffer;
  readonly cacheDir: string;
  spec(env?: Record<string, string>): ImageSpec;
}

/** A project whose source folder holds 24 MiB of random bytes (stored, so the blob is as big) and a script. */
async function project(): Promise<Project> {
  const name = `app-${++seq}`;
  const dir = join(work, name);
  await mkdir(join(dir, "src"), { recursive: true });
  const data = randomBytes(DATA_BYTES);
  await writeFile(join(dir, "src", "data.bin"), data);
  await writeFile(join(dir, "src", "main.py"), "print('hi')\n");
  return {
    dir,
    name,
    data,
    cacheDir: join(dir, "cache"),
    spec: (env = {}) => new ImageSpec({ name, registry: `${proxy.host}/uo`, baseImage: "scratch", sourceRoot: "src", env }, { baseDir: dir }),
  };
}

async function build(
  p: Project,
  env: Record<string, string> = {},
  onEvent?: (event: BuildEvent) => void,
  options: { uploadOnlyBytes?: number; spec?: ImageSpec; cacheDir?: string } = {},
) {
  const events: BuildEvent[] = [];
  const result = await buildSpec(options.spec ?? p.spec(env), {
    registry,
    cacheDir: options.cacheDir ?? p.cacheDir,
    uploadOnlyBytes: options.uploadOnlyBytes ?? UPLOAD_ONLY_BYTES,
    onEvent: (event) => {
      events.push(event);
      onEvent?.(event);
    },
  });
  const files = events.find((e): e is Extract<BuildEvent, { kind: "layer" }> => e.kind === "layer" && e.step === "files");
  assert.ok(files, "a files layer event");
  return { result, files, events };
}

async function filesIn(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** The bytes of data.bin in the image's files layer, read back from the registry (not through the proxy). */
async function dataInRegistry(image: string, layerDigest: string): Promise<Buffer> {
  const pulled = await direct.getImage(image.replace(proxy.host, reg.host));
  const layer = pulled.layers.find((l) => l.descriptor.digest === layerDigest);
  assert.ok(layer, `the image lists ${layerDigest}`);
  const chunks: Buffer[] = [];
  for await (const chunk of await layer.open()) chunks.push(chunk as Buffer);
  const blob = join(work, `blob-${++seq}.tar.gz`);
  await writeFile(blob, Buffer.concat(chunks));
  const listing = (await runOk("tar", ["-tzf", blob])).stdout.trim().split("\n");
  const entry = listing.find((l) => l.endsWith("/data.bin"));
  assert.ok(entry, `data.bin in ${listing.join(", ")}`);
  const out = join(work, `data-${seq}`);
  await mkdir(out);
  await runOk("tar", ["-xzf", blob, "-C", out, entry]);
  const { readFile } = await import("node:fs/promises");
  return readFile(join(out, entry));
}

describe("a big files layer pushed without a local copy", () => {
  it("goes up while it is compressed, once; the cache dir holds no copy; the image in the registry is whole", async () => {
    const p = await project();
    const { result, files } = await build(p);
    assert.equal(result.status, "built");
    assert.ok(files.size > DATA_BYTES, "a stored (incompressible) layer");
    assert.ok(proxy.requests.some((q) => q.method === "PATCH" && q.chunkedBody), "sent as it was compressed");
    assert.deepEqual(uploadedDigests(proxy.requests).filter((d) => d === files.digest), [files.digest], "sent once");
    assert.deepEqual(await filesIn(join(p.cacheDir, "layers")), [], "no layer file in the cache dir");
    assert.equal((await filesIn(join(p.cacheDir, "sent"))).length, 1, "a record of where it went");
    assert.ok((await dataInRegistry(result.image, files.digest)).equals(p.data), "data.bin as it is on disk");
    assert.ok((await assertNoBrokenTag(direct, reg.host, `uo/${p.name}`)).length > 0);
  });

  it("the next build with the same files asks the registry with one HEAD instead of making it again", async () => {
    const p = await project();
    const first = await build(p);
    proxy.resetRequests();
    const second = await build(p, { MODE: "other" });
    assert.notEqual(second.result.image, first.result.image, "another tag");
    assert.equal(second.files.fromCache, true);
    assert.equal(second.files.digest, first.files.digest);
    const blobHeads = proxy.requests.filter((q) => q.method === "HEAD" && q.path.endsWith(`/blobs/${first.files.digest}`));
    assert.ok(blobHeads.length >= 1 && blobHeads.every((q) => q.status === 200), "found there");
    assert.ok(!proxy.requests.some((q) => q.method === "PATCH"), "nothing of the layer was sent");
    assert.ok((await dataInRegistry(second.result.image, second.files.digest)).equals(p.data));
  });

  it("a fresh runner (empty cache dir) finds it through the repository's step cache, recorded after the push", async () => {
    const p = await project();
    const first = await build(p);
    const stored = first.events.find((e) => e.kind === "step-cache" && e.step === "files");
    assert.ok(stored && stored.kind === "step-cache" && stored.status === "stored", "recorded after the push");
    proxy.resetRequests();
    const fresh = await build(p, { MODE: "fresh" }, undefined, { cacheDir: join(p.dir, "fresh-cache") });
    assert.equal(fresh.files.fromCache, true);
    assert.equal(fresh.files.digest, first.files.digest);
    assert.ok(proxy.requests.some((q) => q.method === "GET" && q.path.includes(`/manifests/${stored.tag}`) && q.status === 200), "read the entry");
    assert.ok(!proxy.requests.some((q) => q.method === "PATCH"), "nothing of the layer was sent");
    assert.ok((await dataInRegistry(fresh.result.image, fresh.files.digest)).equals(p.data));
  });

  it("where the registry no longer has it, the layer is made and sent again", async () => {
    const p = await project();
    const first = await build(p);
    proxy.resetRequests();
    const lost = new RegExp(`/blobs/${first.files.digest}$`);
    // The blob, and the step cache entry that names it, are gone.
    proxy.setRules([
      { method: "HEAD", path: lost, times: Infinity, fault: { kind: "status", status: 404 } },
      { path: /\/manifests\/imagespec-cache-/, times: Infinity, fault: { kind: "status", status: 404, body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', headers: { "content-type": "application/json" } } },
    ]);
    const second = await build(p, { MODE: "lost" });
    assert.equal(second.files.fromCache, false, "made again");
    assert.equal(second.files.digest, first.files.digest);
    assert.ok(proxy.requests.some((q) => q.method === "PATCH" && q.chunkedBody), "sent again as it was compressed");
    assert.ok((await assertNoBrokenTag(direct, reg.host, `uo/${p.name}`)).length >= 2);
  });

  it("an upload cut off mid-way is finished by the push, from the layer made again", async () => {
    const p = await project();
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, fault: { kind: "reset-upload", afterBytes: 6 << 20 } }]);
    const { result, files } = await build(p);
    assert.equal(result.status, "built");
    const patches = proxy.requests.filter((q) => q.method === "PATCH" || (q.method === "PUT" && q.path.includes("/blobs/uploads/")));
    assert.ok(patches[0]?.chunkedBody && patches[0].status === 0, "the early upload was cut off");
    assert.deepEqual(uploadedDigests(proxy.requests).filter((d) => d === files.digest), [files.digest], "then sent whole by the push");
    assert.deepEqual(await filesIn(join(p.cacheDir, "layers")), []);
    assert.ok((await dataInRegistry(result.image, files.digest)).equals(p.data));
  });

  it("a source file changed before the push had to make the layer again fails the build; nothing is tagged", async () => {
    const p = await project();
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, fault: { kind: "reset-upload", afterBytes: 6 << 20 } }]);
    const changed = randomBytes(DATA_BYTES);
    await assert.rejects(
      build(p, {}, (event) => {
        // The layer is made (and its upload cut off): the file changes, same size, other bytes.
        if (event.kind === "layer" && event.step === "files") writeFileSync(join(p.dir, "src", "data.bin"), changed);
      }),
      /made again from its 2 files \(were they changed since the build began\?\)/,
    );
    assert.deepEqual(await assertNoBrokenTag(direct, reg.host, `uo/${p.name}`), [], "no tag");
    assert.ok(!uploadedDigests(proxy.requests).includes(sha256(changed)));
  });

  it("a registry that cuts every upload fails the build with the request that failed; nothing is tagged", async () => {
    const p = await project();
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, times: Infinity, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }]);
    await assert.rejects(build(p), (error: Error) => {
      assert.match(error.message, /PATCH http:\/\/127\.0\.0\.1:\d+\/v2\/uo\/app-\d+\/blobs\/uploads\//);
      return true;
    });
    assert.deepEqual(await assertNoBrokenTag(direct, reg.host, `uo/${p.name}`), []);
  });

  it("the record is per repository: the same files pushed to two repositories are found in each", async () => {
    const p = await project();
    const other = new ImageSpec({ name: `${p.name}-other`, registry: `${proxy.host}/uo`, baseImage: "scratch", sourceRoot: "src" }, { baseDir: p.dir });
    const first = await build(p);
    const second = await build(p, {}, undefined, { spec: other });
    assert.equal(second.files.fromCache, false, "another repository: made and sent there");
    assert.equal((await filesIn(join(p.cacheDir, "sent"))).length, 2);
    const again = await build(p, { MODE: "again" });
    assert.equal(again.files.fromCache, true, "the first repository's record is still there");
    assert.equal(again.files.digest, first.files.digest);
  });

  it("never (Infinity) keeps the layer in the cache dir and ignores what an earlier build only uploaded", async () => {
    const p = await project();
    await build(p);
    const kept = await build(p, { MODE: "kept" }, undefined, { uploadOnlyBytes: Infinity });
    assert.equal(kept.files.fromCache, false, "made again, to be kept");
    assert.deepEqual(await filesIn(join(p.cacheDir, "layers")), [`sha256-${kept.files.digest.slice("sha256:".length)}`]);
  });

  it("an uploadOnlyBytes that is not a size is refused, naming the option", async () => {
    const p = await project();
    for (const value of [-1, Number.NaN, 1.5]) {
      await assert.rejects(build(p, {}, undefined, { uploadOnlyBytes: value }), (error: Error & { code?: string }) => {
        assert.equal(error.code, "INVALID_UPLOAD_ONLY_BYTES");
        assert.match(error.message, /^uploadOnlyBytes .* is not a size$/);
        return true;
      });
    }
  });

  it("a layer under the threshold is kept in the cache dir as before", async () => {
    const p = await project();
    const events: BuildEvent[] = [];
    const result = await buildSpec(p.spec(), { registry, cacheDir: p.cacheDir, uploadOnlyBytes: DATA_BYTES * 2, onEvent: (e) => events.push(e) });
    assert.equal(result.status, "built");
    const files = events.find((e): e is Extract<BuildEvent, { kind: "layer" }> => e.kind === "layer" && e.step === "files")!;
    assert.deepEqual(await filesIn(join(p.cacheDir, "layers")), [`sha256-${files.digest.slice("sha256:".length)}`]);
    assert.deepEqual(await filesIn(join(p.cacheDir, "sent")), []);
  });
});

describe("imagespec build --upload-only-above", () => {
  async function cliProject(): Promise<Project> {
    const p = await project();
    await writeFile(join(p.dir, "spec.yaml"), [`name: ${p.name}`, `registry: ${reg.host}/uo`, "base_image: scratch", "source_root: src", ""].join("\n"));
    return p;
  }
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home", ...extra });

  it("a size: the layer above it is only uploaded; never (here from the environment): it is kept", async () => {
    const sent = await cliProject();
    const r1 = await imagespecCli(["build", "-q", "--upload-only-above", "16MiB", "--cache-dir", sent.cacheDir, "spec.yaml"], { cwd: sent.dir, env: env() });
    assert.equal(r1.code, 0, r1.stderr);
    assert.deepEqual(await filesIn(join(sent.cacheDir, "layers")), []);
    assert.equal((await filesIn(join(sent.cacheDir, "sent"))).length, 1);

    const kept = await cliProject();
    const r2 = await imagespecCli(["build", "-q", "--cache-dir", kept.cacheDir, "spec.yaml"], { cwd: kept.dir, env: env({ IMAGESPEC_UPLOAD_ONLY_ABOVE: "never" }) });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal((await filesIn(join(kept.cacheDir, "layers"))).length, 1, "the layer file is kept");
    assert.deepEqual(await filesIn(join(kept.cacheDir, "sent")), []);
  });

  it("a value that is not a size is refused before anything is built, naming the flag or the variable", async () => {
    const p = await cliProject();
    const flag = await imagespecCli(["build", "--upload-only-above", "lots", "spec.yaml"], { cwd: p.dir, env: env() });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--upload-only-above.*expected a size such as 128MiB, 1GiB or 4096 \(bytes\), or never/);
    const variable = await imagespecCli(["build", "spec.yaml"], { cwd: p.dir, env: env({ IMAGESPEC_UPLOAD_ONLY_ABOVE: "12 parsecs" }) });
    assert.notEqual(variable.code, 0);
    assert.match(variable.stderr, /IMAGESPEC_UPLOAD_ONLY_ABOVE.*"12 parsecs" is not valid: expected a size such as 128MiB, 1GiB or 4096 \(bytes\), or never/);
    assert.deepEqual(await filesIn(p.cacheDir), []);
  });
});
