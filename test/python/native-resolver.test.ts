// The native resolver against the test index in each of its modes (PEP 691 JSON or PEP 503 HTML
// pages; PEP 658 metadata files, range requests, or neither), compared with pip on the same
// inputs, and the cases where it steps aside for pip.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parsePlatform } from "../../src/oci/index.js";
import { IndexClient } from "../../src/python/index-client.js";
import { NativeUnsupported, nativeRequirements, resolveNatively } from "../../src/python/native-resolver.js";
import { PythonError } from "../../src/python/errors.js";
import { resolveRequirements, type ResolveOptions } from "../../src/python/resolve.js";
import type { PythonRequirements, Resolution } from "../../src/python/resolution.js";
import type { PythonTarget } from "../../src/python/tags.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { removeDir, tempDir } from "../support/tools.js";
import { randomBytes } from "node:crypto";
import { buildFixtureWheels, buildWheel, writeZip, type FixtureWheels } from "../support/wheels.js";

const amd64: PythonTarget = { platform: parsePlatform("linux/amd64"), pythonVersion: "3.11" };
const arm64: PythonTarget = { platform: parsePlatform("linux/arm64"), pythonVersion: "3.11" };

let work: string;
let fixtures: FixtureWheels;
let index: PypiIndex;
let graphDir: string;
let graph: PypiIndex;

/** A small dependency graph with extras, markers, pre-releases and a conflict to back out of. */
async function buildGraph(dir: string): Promise<void> {
  const files = (name: string) => ({ [`${name.replace(/-/g, "_")}/__init__.py`]: "" });
  const wheel = (name: string, version: string, requires: string[] = [], extra: { requiresPython?: string; tag?: string; providesExtras?: string[] } = {}) =>
    buildWheel(dir, { name, version, requires, files: files(name), ...extra });
  await wheel("app", "1.0", ["base>=1", "fancy>=1; extra == 'fast'", "ancient; python_version < '3.8'", "armonly; platform_machine == 'aarch64'", "slow; extra == 'fast' and python_version >= '4'", "undeclared; extra == 'other'"], { providesExtras: ["Fast"] });
  await wheel("base", "1.0");
  await wheel("base", "1.5");
  await wheel("base", "2.0rc1");
  await wheel("fancy", "1.1", ["base<1.5"]);
  await wheel("fancy", "1.0", ["base"]);
  await wheel("armonly", "1.0");
  // top 2.0 needs mid 2.0, which needs leaf<1, which does not exist: back out to top 1.0.
  await wheel("top", "2.0", ["mid==2.0"]);
  await wheel("top", "1.0", ["mid==1.0"]);
  await wheel("mid", "2.0", ["leaf<1"]);
  await wheel("mid", "1.0", ["leaf>=1,!=1.2.*"]);
  await wheel("leaf", "1.0");
  await wheel("leaf", "1.1.post1");
  await wheel("leaf", "1.2.1");
  await wheel("leaf", "1.3.dev1");
  await wheel("onlypre", "0.9b1");
  await wheel("compat", "3.1", [], { requiresPython: ">=3.12" });
  await wheel("compat", "3.0");
  await wheel("compat", "2.9", [], { tag: "cp311-cp311-manylinux_2_17_x86_64" });
}

before(async () => {
  work = await tempDir("imagespec-native-");
  fixtures = await buildFixtureWheels(join(work, "index"));
  index = await startPypiIndex({ dir: fixtures.dir });
  graphDir = join(work, "graph");
  await mkdir(graphDir, { recursive: true });
  await buildGraph(graphDir);
  graph = await startPypiIndex({ dir: graphDir });
});
after(async () => {
  await index?.stop();
  await graph?.stop();
  await removeDir(work);
});

let cacheCount = 0;
function options(extra: Partial<ResolveOptions> = {}): ResolveOptions {
  return { cacheDir: join(work, `cache-${++cacheCount}`), uv: false, ...extra };
}

const picks = (resolution: Pick<Resolution, "wheels">) => resolution.wheels.map((w) => `${w.filename} ${w.sha256 ?? "-"} ${w.url}`);

/** Native and pip on the same inputs: the same wheels, URLs and hashes. */
async function sameAsPip(requirements: PythonRequirements, target: PythonTarget): Promise<Resolution> {
  const fallbacks: string[] = [];
  const native = await resolveRequirements(requirements, target, options({ onFallback: (reason) => fallbacks.push(reason) }));
  assert.deepEqual(fallbacks, []);
  assert.equal(native.resolver, "native");
  const pip = await resolveRequirements(requirements, target, options({ native: false }));
  assert.equal(pip.resolver, "pip");
  assert.deepEqual(picks(native), picks(pip));
  return native;
}

describe("native resolver, compared with pip", () => {
  it("picks what pip picks from the fixture wheels for linux/amd64 and linux/arm64, from metadata files alone", async () => {
    index.resetRequests();
    const native = await resolveNatively({ requirements: { packages: ["greet", "fastmath", "modern"], indexUrl: index.url }, target: amd64 });
    assert.deepEqual(native.wheels.map((w) => w.filename).sort(), [fixtures.fastmathAmd64.filename, fixtures.greet.filename, fixtures.helper.filename, fixtures.modernOld.filename].sort());
    assert.deepEqual(index.downloads(), []);
    assert.ok(index.requests().every((r) => r.status === 200 && !/\.whl$/.test(r.path)), JSON.stringify(index.requests()));
    await sameAsPip({ packages: ["greet", "fastmath", "modern"], indexUrl: index.url }, amd64);
    await sameAsPip({ packages: ["fastmath==2.0", "greet"], indexUrl: index.url }, arm64);
  });

  it("follows extras and markers for the target, pre-releases only where pip takes them, and backs out of a conflict", async () => {
    // "other" is not a declared extra of app: its dependency (on a project that does not exist) is not followed.
    const both = await sameAsPip({ packages: ["app[fast,other]", "top", "onlypre", "compat"], indexUrl: graph.url }, amd64);
    assert.deepEqual(
      both.wheels.map((w) => `${w.name}==${w.version}`),
      ["app==1.0", "base==1.0", "compat==3.0", "fancy==1.1", "leaf==1.1.post1", "mid==1.0", "onlypre==0.9b1", "top==1.0"],
    );
    // Markers are evaluated for the target: pip evaluates them for the host even with --platform, so here the two differ.
    const plain = await resolveRequirements({ packages: ["app"], indexUrl: graph.url }, arm64, options());
    assert.equal(plain.resolver, "native");
    assert.deepEqual(plain.wheels.map((w) => `${w.name}==${w.version}`), ["app==1.0", "armonly==1.0", "base==1.5"]);
    const onAmd64 = await sameAsPip({ packages: ["app"], indexUrl: graph.url }, amd64);
    assert.deepEqual(onAmd64.wheels.map((w) => `${w.name}==${w.version}`), ["app==1.0", "base==1.5"]);
    const pre = await sameAsPip({ packages: ["base>=2.0rc1", "leaf~=1.1"], indexUrl: graph.url }, arm64);
    assert.deepEqual(pre.wheels.map((w) => `${w.name}==${w.version}`), ["base==2.0rc1", "leaf==1.2.1"]);
    // The pip options it models: --pre admits every pre-release, --no-deps follows no dependency.
    const anyPre = await sameAsPip({ packages: ["app", "leaf"], indexUrl: graph.url, extraArgs: "--pre" }, amd64);
    assert.deepEqual(anyPre.wheels.map((w) => `${w.name}==${w.version}`), ["app==1.0", "base==2.0rc1", "leaf==1.3.dev1"]);
    const alone = await sameAsPip({ packages: ["app[fast]", "top"], indexUrl: graph.url, extraArgs: "--no-deps" }, amd64);
    assert.deepEqual(alone.wheels.map((w) => `${w.name}==${w.version}`), ["app==1.0", "top==2.0"]);
  });
});

describe("native resolver, index options", () => {
  it("skips yanked files as pip does, with JSON and HTML pages alike", async () => {
    for (const json of [true, false]) {
      const yanking = await startPypiIndex({ dir: graphDir, json, yanked: { "base-1.5-py3-none-any.whl": "broken", "onlypre-0.9b1-py3-none-any.whl": "" } });
      try {
        const resolution = await sameAsPip({ packages: ["app"], indexUrl: yanking.url }, amd64);
        assert.deepEqual(resolution.wheels.map((w) => `${w.name}==${w.version}`), ["app==1.0", "base==1.0"]);
        // Only a yanked file fits: pip takes it for an exact pin (with a warning), so pip decides.
        const reasons: string[] = [];
        const pinned = await resolveRequirements({ packages: ["onlypre==0.9b1"], indexUrl: yanking.url }, amd64, options({ onFallback: (r) => reasons.push(r) }));
        assert.equal(pinned.resolver, "pip");
        assert.deepEqual(reasons, ["only yanked wheels of onlypre fit the target"]);
      } finally {
        await yanking.stop();
      }
    }
  });

  it("sends the credentials of the index URL, looks in extra indexes too, and stores no credentials", async () => {
    const mainDir = join(work, "auth-main");
    const extraDir = join(work, "auth-extra");
    await buildWheel(mainDir, { name: "app", version: "3.0", requires: ["lib>=1"], files: { "app/__init__.py": "" } });
    await buildWheel(extraDir, { name: "lib", version: "1.5", files: { "lib/__init__.py": "" } });
    await buildWheel(extraDir, { name: "app", version: "2.0", files: { "app/__init__.py": "" } });
    const main = await startPypiIndex({ dir: mainDir, auth: { username: "user", password: "s3cret/+" } });
    const extra = await startPypiIndex({ dir: extraDir });
    try {
      const resolution = await sameAsPip({ packages: ["app"], indexUrl: main.urlWithCredentials, extraIndexUrls: [extra.url] }, amd64);
      assert.deepEqual(
        resolution.wheels.map((w) => [w.filename, w.url]),
        [
          ["app-3.0-py3-none-any.whl", `${main.origin}/files/app-3.0-py3-none-any.whl`],
          ["lib-1.5-py3-none-any.whl", `${extra.origin}/files/lib-1.5-py3-none-any.whl`],
        ],
      );
      assert.ok(main.requests().every((r) => r.status !== 401));
      await assert.rejects(resolveNatively({ requirements: { packages: ["app"], indexUrl: main.url }, target: amd64 }), NativeUnsupported);
    } finally {
      await main.stop();
      await extra.stop();
    }
  });

  it("names why pip takes over without the index password written in the requirements or options", () => {
    const cases: [Parameters<typeof nativeRequirements>[0], string | undefined][] = [
      [{ packages: [], requirementsFile: "requirements.txt" }, "--extra-index-url https://ci:s3cr3t-token@pkgs.example/simple\napp\n"],
      [{ packages: ["app"], extraArgs: "--index-url https://ci:s3cr3t-token@pkgs.example/simple" }, undefined],
      [{ packages: ["app @ https://ci:s3cr3t-token@pkgs.example/app.whl ["] }, undefined],
    ];
    for (const [requirements, content] of cases) {
      assert.throws(
        () => nativeRequirements(requirements, content),
        (error: unknown) => error instanceof NativeUnsupported && error.message.includes("pkgs.example") && !error.message.includes("s3cr3t-token"),
      );
    }
  });

  it("gives up on a conflict after its budget of candidates, for pip to settle", async () => {
    await assert.rejects(resolveNatively({ requirements: { packages: ["top"], indexUrl: graph.url }, target: amd64, maxAttempts: 2 }), /gave up after trying 2 candidate versions/);
    const settled = await resolveNatively({ requirements: { packages: ["top"], indexUrl: graph.url }, target: amd64, maxAttempts: 5 });
    assert.deepEqual(settled.wheels.map((w) => `${w.name}==${w.version}`), ["leaf==1.1.post1", "mid==1.0", "top==1.0"]);
  });
});

describe("native resolver, reading the index", () => {
  it("reads PEP 691 JSON pages when the index offers them and PEP 503 HTML when not, to the same files", async () => {
    const htmlOnly = await startPypiIndex({ dir: graphDir, json: false });
    try {
      const fromJson = await new IndexClient({ indexUrls: [graph.url] }).projectFiles(graph.url, "leaf");
      const fromHtml = await new IndexClient({ indexUrls: [htmlOnly.url] }).projectFiles(htmlOnly.url, "leaf");
      const shape = (files: typeof fromJson, origin: string) => files.map((f) => ({ ...f, url: f.url.replace(origin, "ORIGIN").replace(/#.*$/, "") }));
      assert.equal(fromJson.length, 4);
      assert.ok(fromJson.every((f) => f.metadata !== false && /^[0-9a-f]{64}$/.test(f.metadata.sha256 ?? "") && /^[0-9a-f]{64}$/.test(f.sha256 ?? "")));
      assert.deepEqual(shape(fromJson, graph.origin), shape(fromHtml, htmlOnly.origin));
    } finally {
      await htmlOnly.stop();
    }
  });

  it("reads METADATA out of the wheel by range requests when there is no metadata file, and from the whole file when ranges are ignored", async () => {
    const expected = [fixtures.greet.filename, fixtures.helper.filename];
    const ranged = await startPypiIndex({ dir: fixtures.dir, metadata: false });
    const plain = await startPypiIndex({ dir: fixtures.dir, metadata: false, ranges: false, json: false });
    try {
      const byRange = await resolveNatively({ requirements: { packages: ["greet"], indexUrl: ranged.url }, target: amd64 });
      assert.deepEqual(byRange.wheels.map((w) => w.filename), expected);
      assert.equal(byRange.stats.metadataFiles, 0);
      assert.ok(byRange.stats.rangeRequests >= 2);
      assert.deepEqual(ranged.downloads(), []);
      assert.ok(ranged.requests().some((r) => r.status === 206 && r.path.endsWith(".whl")));
      const whole = await resolveNatively({ requirements: { packages: ["greet"], indexUrl: plain.url }, target: amd64 });
      assert.deepEqual(whole.wheels.map((w) => w.filename), expected);
      assert.deepEqual(plain.downloads().sort(), expected);
    } finally {
      await ranged.stop();
      await plain.stop();
    }
  });

  it("finds METADATA far from the end of a big wheel, and behind a central directory larger than the first read", async () => {
    const dir = join(work, "big-wheels");
    await mkdir(dir, { recursive: true });
    const metadata = "Metadata-Version: 2.1\nName: big\nVersion: 1.0\nRequires-Dist: helper\n\n";
    // METADATA first, then 1 MiB that does not compress: its local header is far before the tail.
    await writeZip(join(dir, "big-1.0-py3-none-any.whl"), [
      { name: "big-1.0.dist-info/METADATA", data: Buffer.from(metadata) },
      { name: "big/blob.bin", data: randomBytes(1 << 20), stored: true },
    ]);
    // 3000 members with long names: a central directory of about 300 KiB.
    await writeZip(join(dir, "many-1.0-py3-none-any.whl"), [
      ...Array.from({ length: 3000 }, (_, i) => ({ name: `many/${"deep/".repeat(10)}module_${i}.py`, data: Buffer.from(`# ${i}\n`) })),
      { name: "many-1.0.dist-info/METADATA", data: Buffer.from(metadata.replace(/big/g, "many")) },
    ]);
    const server = await startPypiIndex({ dir, metadata: false });
    try {
      const client = new IndexClient({ indexUrls: [server.url] });
      const [big] = await client.projectFiles(server.url, "big");
      assert.equal(await client.wheelMetadata(big!), metadata);
      assert.equal(client.counts.rangeRequests, 2, "the tail, then the member");
      const [many] = await client.projectFiles(server.url, "many");
      assert.equal(await client.wheelMetadata(many!), metadata.replace(/big/g, "many"));
      assert.equal(client.counts.rangeRequests, 5, "the tail, the directory before it, then the member");
      assert.deepEqual(server.downloads(), []);
    } finally {
      await server.stop();
    }
  });

  it("answers the same inputs from the resolution cache without asking the index again", async () => {
    const cacheDir = join(work, "native-cache");
    const first = await resolveRequirements({ packages: ["greet"], indexUrl: index.url }, amd64, options({ cacheDir }));
    assert.equal(first.resolver, "native");
    index.resetRequests();
    const second = await resolveRequirements({ packages: ["greet"], indexUrl: index.url }, amd64, options({ cacheDir }));
    assert.deepEqual({ ...second, fromCache: false }, first);
    assert.equal(second.fromCache, true);
    assert.deepEqual(index.requests(), []);
  });
});

describe("native resolver, stepping aside for pip", () => {
  async function fallsBack(requirements: PythonRequirements, reason: RegExp): Promise<Resolution> {
    const reasons: string[] = [];
    const resolution = await resolveRequirements(requirements, amd64, options({ onFallback: (r) => reasons.push(r) }));
    assert.equal(resolution.resolver, "pip");
    assert.equal(reasons.length, 1);
    assert.match(reasons[0]!, reason);
    return resolution;
  }

  it("for pip options, option lines in a requirements file, and direct URLs", async () => {
    const noDeps = await fallsBack({ packages: ["greet"], indexUrl: index.url, extraArgs: "--no-deps --no-cache-dir" }, /pip options "--no-deps --no-cache-dir"/);
    assert.deepEqual(noDeps.wheels.map((w) => w.name), ["greet"]);
    const file = join(work, "with-options.txt");
    await writeFile(file, `--only-binary :all:\ngreet\n`);
    await fallsBack({ packages: [], requirementsFile: file, indexUrl: index.url }, /requirements file line "--only-binary :all:"/);
    const direct = await fallsBack({ packages: [`helper @ ${pathToFileURL(fixtures.helper.path).toString()}`], indexUrl: index.url }, /direct URL of helper/);
    assert.deepEqual(direct.wheels.map((w) => w.filename), [fixtures.helper.filename]);
  });

  it("checks hashes from the requirements file as pip does, and leaves what hash-checking mode refuses to pip", async () => {
    const file = join(work, "hashed.txt");
    const hashed = (wheel: { filename: string; sha256: string }) => `    --hash=sha256:${"0".repeat(64)} \\\n    --hash=sha256:${wheel.sha256}`;
    await writeFile(file, `greet==1.0 \\\n${hashed(fixtures.greet)}\n    # via app\nhelper==1.2 \\\n${hashed(fixtures.helper)}\n`);
    const both = await sameAsPip({ packages: [], requirementsFile: file, indexUrl: index.url }, amd64);
    assert.deepEqual(both.wheels.map((w) => w.filename), [fixtures.greet.filename, fixtures.helper.filename]);

    await writeFile(file, `greet==1.0 --hash=sha256:${fixtures.greet.sha256}\n`);
    const reasons: string[] = [];
    await assert.rejects(resolveRequirements({ packages: [], requirementsFile: file, indexUrl: index.url }, amd64, options({ onFallback: (r) => reasons.push(r) })), PythonError);
    assert.deepEqual(reasons, ["hash-checking mode, and helper has no hash in the requirements"]);

    await writeFile(file, `greet==1.0 --hash=sha256:${"0".repeat(64)}\nhelper==1.2 --hash=sha256:${fixtures.helper.sha256}\n`);
    reasons.length = 0;
    await assert.rejects(resolveRequirements({ packages: [], requirementsFile: file, indexUrl: index.url }, amd64, options({ onFallback: (r) => reasons.push(r) })), PythonError);
    assert.deepEqual(reasons, ["no wheel of greet for the target has a hash the requirements allow"]);
    await writeFile(file, `greet>=1.0 --hash=sha256:${fixtures.greet.sha256}\n`);
    await assert.rejects(resolveNatively({ requirements: { packages: [], indexUrl: index.url }, requirementsContent: await readFile(file, "utf8"), target: amd64 }), /hash-checking mode, and "greet>=1.0" is not pinned/);
  });

  it("for a project without a wheel for the target, and pip words the error", async () => {
    const reasons: string[] = [];
    await assert.rejects(resolveRequirements({ packages: ["x86only"], indexUrl: index.url }, arm64, options({ onFallback: (r) => reasons.push(r) })), (error: unknown) => {
      assert.ok(error instanceof PythonError && error.code === "PYTHON_NO_WHEEL_FOR_TARGET", String(error));
      return true;
    });
    assert.deepEqual(reasons, ["x86only has no wheel for the target"]);
  });
});
