// Downloading resolved wheels into the content-addressed cache from a PEP 503 index on
// 127.0.0.1: hashes checked, cached files reused, tampered files refused, credentials restored
// only for the index's own origin, parallelism bounded.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parsePlatform } from "../../src/oci/index.js";
import { indexCredentialsFor, downloadWheels, wheelCachePath, type DownloadProgress } from "../../src/python/download.js";
import { PythonError } from "../../src/python/errors.js";
import { resolveRequirements } from "../../src/python/resolve.js";
import { resolutionCachePath, type ResolvedWheel } from "../../src/python/resolution.js";
import type { PythonTarget } from "../../src/python/tags.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { removeDir, tempDir } from "../support/tools.js";
import { buildFixtureWheels, buildWheel, type FixtureWheels } from "../support/wheels.js";
import { sha256File } from "./helpers.js";

const amd64: PythonTarget = { platform: parsePlatform("linux/amd64"), pythonVersion: "3.11" };

let work: string;
let wheels: FixtureWheels;
let index: PypiIndex;
let counter = 0;
const fresh = (name: string) => join(work, `${name}-${++counter}`);

before(async () => {
  work = await tempDir("imagespec-download-");
  wheels = await buildFixtureWheels(join(work, "index"));
  index = await startPypiIndex({ dir: wheels.dir });
});
after(async () => {
  await index?.stop();
  await removeDir(work);
});

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<PythonError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PythonError, `expected a PythonError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

function resolvedFrom(idx: PypiIndex, wheel: { filename: string; sha256: string; project: string; version: string }): ResolvedWheel {
  return { name: wheel.project, version: wheel.version, filename: wheel.filename, sha256: wheel.sha256, url: `${idx.origin}/files/${wheel.filename}` };
}

describe("downloadWheels", () => {
  it("fetches what was resolved into <cache>/wheels/sha256/<hex>, verified, and reuses it next time", async () => {
    const cacheDir = fresh("cache");
    const resolution = await resolveRequirements({ packages: ["greet", "fastmath"], indexUrl: index.url }, amd64, { cacheDir, uv: false });
    index.resetRequests();
    const downloaded = await downloadWheels(resolution.wheels, { cacheDir });
    assert.deepEqual(
      downloaded.map((d) => [d.name, d.fromCache, d.path]),
      resolution.wheels.map((w) => [w.name, false, wheelCachePath(cacheDir, w.sha256!)]),
    );
    for (const d of downloaded) {
      assert.equal(await sha256File(d.path), d.sha256);
      assert.equal(d.size, (await readFile(d.path)).length);
    }
    assert.deepEqual(index.downloads().sort(), resolution.wheels.map((w) => w.filename).sort(), "each wheel fetched once");

    index.resetRequests();
    const again = await downloadWheels(resolution.wheels, { cacheDir });
    assert.deepEqual(again.map((d) => d.fromCache), resolution.wheels.map(() => true));
    assert.deepEqual(index.requests(), [], "cached wheels are not fetched again");
  });

  it("drops a damaged cached wheel with a warning and downloads it again", async () => {
    const cacheDir = fresh("cache");
    const resolution = await resolveRequirements({ packages: ["greet"], indexUrl: index.url }, amd64, { cacheDir, uv: false });
    const [first] = await downloadWheels(resolution.wheels, { cacheDir });
    const good = await readFile(first!.path);
    const damaged = Buffer.from(good);
    damaged[damaged.length >> 1] = damaged[damaged.length >> 1]! ^ 0xff;
    await writeFile(first!.path, damaged);
    index.resetRequests();
    const warnings: string[] = [];
    const [again] = await downloadWheels(resolution.wheels, { cacheDir, warn: (m) => warnings.push(m) });
    assert.equal(again!.fromCache, false, "fetched again, not used");
    assert.deepEqual(await readFile(again!.path), good, "the cache holds the good wheel again");
    assert.deepEqual(index.downloads(), [first!.filename]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /damaged; removed it, downloading greet-.*\.whl again/);
  });

  it("refuses a file whose sha256 differs from the resolution, naming the wheel and URL, and keeps nothing", async () => {
    const dir = fresh("tamper-index");
    const original = await buildWheel(dir, { name: "victim", version: "1.0", files: { "victim/__init__.py": "SAFE = True\n" } });
    const tamperIndex = await startPypiIndex({ dir });
    const cacheDir = fresh("cache");
    try {
      const resolution = await resolveRequirements({ packages: ["victim"], indexUrl: tamperIndex.url }, amd64, { cacheDir, uv: false });
      assert.equal(resolution.wheels[0]!.sha256, original.sha256);
      await buildWheel(dir, { name: "victim", version: "1.0", files: { "victim/__init__.py": "SAFE = False  # swapped on the index\n" } });
      const error = await rejectsWith(downloadWheels(resolution.wheels, { cacheDir }), "WHEEL_HASH_MISMATCH");
      assert.match(error.message, /victim-1\.0-py3-none-any\.whl/);
      assert.ok(error.message.includes(`${tamperIndex.origin}/files/victim-1.0-py3-none-any.whl`), error.message);
      assert.ok(error.message.includes(original.sha256));
      assert.deepEqual(await readdir(join(cacheDir, "wheels", "tmp")), [], "the partial file is removed");
      await assert.rejects(readFile(wheelCachePath(cacheDir, original.sha256)), { code: "ENOENT" });
    } finally {
      await tamperIndex.stop();
    }
  });

  it("copies file:// wheels into the cache and hashes wheels that came without a published hash", async () => {
    const cacheDir = fresh("cache");
    const local: ResolvedWheel = { ...resolvedFrom(index, wheels.helper), url: pathToFileURL(wheels.helper.path).toString(), sha256: undefined };
    const [downloaded] = await downloadWheels([local], { cacheDir });
    assert.equal(downloaded!.sha256, wheels.helper.sha256);
    assert.equal(downloaded!.path, wheelCachePath(cacheDir, wheels.helper.sha256));
    assert.equal(await sha256File(downloaded!.path), wheels.helper.sha256);

    const missing: ResolvedWheel = { ...local, url: pathToFileURL(join(work, "gone.whl")).toString() };
    await rejectsWith(downloadWheels([missing], { cacheDir }), "WHEEL_DOWNLOAD_FAILED");
  });

  it("reports a missing file by URL without retrying it", async () => {
    index.resetRequests();
    const gone: ResolvedWheel = { ...resolvedFrom(index, wheels.helper), url: `${index.origin}/files/helper-9.9-py3-none-any.whl`, sha256: "0".repeat(64) };
    const error = await rejectsWith(downloadWheels([gone], { cacheDir: fresh("cache") }), "WHEEL_DOWNLOAD_FAILED");
    assert.match(error.message, /HTTP 404/);
    assert.equal(index.requests().length, 1);
  });

  it("reports each transfer: start before the request, bytes from 0 with the size the index sent, done; a cached wheel only as done", async () => {
    const wheel = resolvedFrom(index, wheels.greet);
    const cacheDir = fresh("cache");
    const events: DownloadProgress[] = [];
    await downloadWheels([wheel], { cacheDir, onProgress: (e) => events.push(e) });
    const size = wheels.greet.size;
    assert.deepEqual(events[0], { kind: "start", filename: wheel.filename });
    assert.deepEqual(events[1], { kind: "bytes", filename: wheel.filename, bytes: 0, size });
    const ticks = events.slice(2, -1);
    assert.ok(ticks.length > 0 && ticks.every((e) => e.kind === "bytes" && e.size === size));
    assert.equal((ticks.at(-1) as { bytes: number }).bytes, size, "the last tick counts every byte");
    assert.deepEqual(events.at(-1), { kind: "done", filename: wheel.filename, size, fromCache: false });

    const again: DownloadProgress[] = [];
    await downloadWheels([wheel], { cacheDir, onProgress: (e) => again.push(e) });
    assert.deepEqual(again, [{ kind: "done", filename: wheel.filename, size, fromCache: true }]);
  });

  it("downloads in parallel up to the bound", async () => {
    const slow = await startPypiIndex({ dir: wheels.dir, fileDelayMs: 150 });
    try {
      const all = wheels.all.map((w) => resolvedFrom(slow, w));
      await downloadWheels(all, { cacheDir: fresh("cache"), concurrency: 3 });
      assert.equal(slow.downloads().length, all.length);
      assert.equal(slow.peakConcurrentDownloads(), 3);
      slow.resetRequests();
      await downloadWheels(all, { cacheDir: fresh("cache"), concurrency: 1 });
      assert.equal(slow.peakConcurrentDownloads(), 1);
    } finally {
      await slow.stop();
    }
  });
});

describe("private indexes", () => {
  it("resolves with credentials in the index URL, stores no secret, and sends them back only to that origin", async () => {
    const password = "s3cret-t0ken";
    const privateIndex = await startPypiIndex({ dir: wheels.dir, auth: { username: "builder", password } });
    const cacheDir = fresh("cache");
    try {
      const resolution = await resolveRequirements({ packages: ["helper"], indexUrl: privateIndex.urlWithCredentials }, amd64, { cacheDir, uv: false });
      assert.equal(resolution.wheels[0]!.url, `${privateIndex.origin}/files/${wheels.helper.filename}`);
      const stored = await readFile(resolutionCachePath(cacheDir, resolution.key), "utf8");
      assert.ok(!stored.includes(password), "the cached resolution holds no password");

      const refused = await rejectsWith(downloadWheels(resolution.wheels, { cacheDir }), "WHEEL_DOWNLOAD_FAILED");
      assert.match(refused.message, /HTTP 401/);
      assert.match(refused.hint ?? "", /credentials/);

      const [downloaded] = await downloadWheels(resolution.wheels, { cacheDir, indexUrls: [privateIndex.urlWithCredentials] });
      assert.equal(await sha256File(downloaded!.path), wheels.helper.sha256);
    } finally {
      await privateIndex.stop();
    }
  });

  it("matches credentials by origin only", () => {
    const indexUrls = ["https://me:pw@pkgs.example/simple", "https://open.example/simple"];
    assert.equal(indexCredentialsFor(new URL("https://pkgs.example/files/x.whl"), indexUrls), `Basic ${Buffer.from("me:pw").toString("base64")}`);
    assert.equal(indexCredentialsFor(new URL("https://pkgs.example:8443/files/x.whl"), indexUrls), undefined);
    assert.equal(indexCredentialsFor(new URL("http://pkgs.example/files/x.whl"), indexUrls), undefined);
    assert.equal(indexCredentialsFor(new URL("https://files.example/x.whl"), indexUrls), undefined);
  });
});

describe("the cache is content-addressed", () => {
  it("keeps one file for the same wheel reached through two URLs", async () => {
    const cacheDir = fresh("cache");
    const viaIndex = resolvedFrom(index, wheels.greet);
    const viaFile: ResolvedWheel = { ...viaIndex, url: pathToFileURL(wheels.greet.path).toString() };
    const [a] = await downloadWheels([viaIndex], { cacheDir });
    const [b] = await downloadWheels([viaFile], { cacheDir });
    assert.equal(a!.path, b!.path);
    assert.equal(b!.fromCache, true);
    assert.deepEqual(await readdir(join(cacheDir, "wheels", "sha256")), [wheels.greet.sha256]);
  });
});
