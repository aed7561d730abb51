// Grouping wheels into layers: large wheels alone, the rest together; cache keys that make the
// same large wheel give the same layer in two different images; and the whole path from
// resolution to a tar the host's python3 runs from.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { layerFromEntries } from "../../src/layer/layer.js";
import { tarStream } from "../../src/layer/tar.js";
import { parsePlatform } from "../../src/oci/index.js";
import { downloadWheels, type DownloadedWheel } from "../../src/python/download.js";
import {
  DEFAULT_LARGE_WHEEL_BYTES,
  describeWheelLayers,
  planWheelLayers,
  wheelGroupEntries,
  wheelLayerCacheKey,
} from "../../src/python/layers.js";
import { resolveRequirements } from "../../src/python/resolve.js";
import { prefixScheme, type InstallTarget } from "../../src/python/scheme.js";
import type { PythonTarget } from "../../src/python/tags.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { removeDir, runOk, tempDir } from "../support/tools.js";
import { buildFixtureWheels, buildWheel, type FixtureWheels } from "../support/wheels.js";

const amd64: PythonTarget = { platform: parsePlatform("linux/amd64"), pythonVersion: "3.11" };
const MiB = 1024 * 1024;

let work: string;
let wheels: FixtureWheels;
let index: PypiIndex;
let hostPython: string;
let target: InstallTarget;

before(async () => {
  work = await tempDir("imagespec-layers-");
  wheels = await buildFixtureWheels(join(work, "index"));
  index = await startPypiIndex({ dir: wheels.dir });
  hostPython = (await runOk("python3", ["-c", "import sys; print(sys.executable)"])).stdout.trim();
  target = { scheme: prefixScheme("/usr/local", "3.11"), interpreter: hostPython };
});
after(async () => {
  await index?.stop();
  await removeDir(work);
});

async function tarDigest(entries: Parameters<typeof tarStream>[0]): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of tarStream(entries, { epoch: 0 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

describe("planWheelLayers", () => {
  const wheel = (filename: string, size: number) => ({ filename, size, sha256: createHash("sha256").update(filename).digest("hex") });

  it("gives each wheel over the threshold its own layer and groups the rest, in a stable order", () => {
    const torch = wheel("torch-2.3.0-cp311-cp311-manylinux1_x86_64.whl", 750 * MiB);
    const nvidia = wheel("nvidia_cudnn_cu12-8.9.2.26-py3-none-manylinux1_x86_64.whl", 700 * MiB);
    const six = wheel("six-1.16.0-py2.py3-none-any.whl", 11 * 1024);
    const requests = wheel("requests-2.31.0-py3-none-any.whl", 62 * 1024);
    const edge = wheel("edge-1.0-py3-none-any.whl", DEFAULT_LARGE_WHEEL_BYTES);
    const plan = planWheelLayers([six, torch, requests, edge, nvidia]);
    assert.deepEqual(
      plan.groups.map((g) => [g.kind, g.wheels.map((w) => w.filename)]),
      [
        ["large", [nvidia.filename]],
        ["large", [torch.filename]],
        ["shared", [edge.filename, requests.filename, six.filename]],
      ],
    );
    assert.equal(plan.groups[2]!.size, six.size + requests.size + edge.size);
    assert.deepEqual(describeWheelLayers(plan), [
      `layer 1 (large, 700.0 MiB): ${nvidia.filename}`,
      `layer 2 (large, 750.0 MiB): ${torch.filename}`,
      `layer 3 (shared, 1.1 MiB): ${edge.filename}, ${requests.filename}, ${six.filename}`,
    ]);
    assert.deepEqual(planWheelLayers([six, torch], { largeWheelBytes: 1024 }).groups.map((g) => g.kind), ["large", "large"]);
    assert.deepEqual(planWheelLayers([]).groups, []);
  });

  it("gives the data-science packages two apps share layers of their own: a few MiB is large", () => {
    const numpy = wheel("numpy-1.24.2-cp311-cp311-manylinux_2_36_x86_64.whl", 6 * MiB);
    const pandas = wheel("pandas-1.5.3-cp311-cp311-manylinux_2_36_x86_64.whl", 9 * MiB);
    const six = wheel("six-1.16.0-py2.py3-none-any.whl", 11 * 1024);
    const plan = planWheelLayers([six, pandas, numpy]);
    assert.deepEqual(
      plan.groups.map((g) => [g.kind, g.wheels.map((w) => w.filename)]),
      [
        ["large", [numpy.filename]],
        ["large", [pandas.filename]],
        ["shared", [six.filename]],
      ],
    );
  });

  it("gives at most maxOwnLayers wheels a layer of their own: the largest, the rest join the group", () => {
    const wheels = [3, 9, 5, 7, 7].map((mib, i) => wheel(`w${i}-1.0-py3-none-any.whl`, mib * MiB));
    const plan = planWheelLayers(wheels, { maxOwnLayers: 3 });
    assert.deepEqual(
      plan.groups.map((g) => [g.kind, g.wheels.map((w) => w.filename)]),
      [
        ["large", ["w1-1.0-py3-none-any.whl"]],
        ["large", ["w3-1.0-py3-none-any.whl"]],
        ["large", ["w4-1.0-py3-none-any.whl"]],
        ["shared", ["w0-1.0-py3-none-any.whl", "w2-1.0-py3-none-any.whl"]],
      ],
    );
    assert.equal(planWheelLayers(wheels).groups.length, 5, "the default cap is far above five");
  });

  it("keys a group by wheel digests, scheme, interpreter and layout version, not by order or names", () => {
    const a = { sha256: "a".repeat(64) };
    const b = { sha256: "b".repeat(64) };
    const key = wheelLayerCacheKey([a, b], target);
    assert.match(key, /^sha256:[0-9a-f]{64}$/);
    assert.equal(wheelLayerCacheKey([b, a], target), key);
    assert.notEqual(wheelLayerCacheKey([a], target), key);
    assert.notEqual(wheelLayerCacheKey([a, b], { ...target, interpreter: "/usr/bin/python3.11" }), key);
    assert.notEqual(wheelLayerCacheKey([a, b], { ...target, scheme: prefixScheme("/opt/venv", "3.11") }), key);
  });
});

describe("layers from downloaded wheels", () => {
  let downloaded: Map<string, DownloadedWheel>;
  before(async () => {
    const cacheDir = join(work, "cache");
    const resolution = await resolveRequirements({ packages: ["greet", "fastmath"], indexUrl: index.url }, amd64, { cacheDir, uv: false });
    downloaded = new Map((await downloadWheels(resolution.wheels, { cacheDir })).map((d) => [d.name, d]));
  });

  it("gives two images that share a large wheel the same layer bytes and key", async () => {
    const fastmath = downloaded.get("fastmath")!;
    const threshold = fastmath.size - 1; // fastmath carries a real extension module: "large" here
    const imageA = planWheelLayers([...downloaded.values()], { largeWheelBytes: threshold });
    const otherWheel = await buildWheel(join(work, "other"), { name: "other", version: "1.0", files: { "other/__init__.py": "" } });
    const imageB = planWheelLayers([fastmath, otherWheel], { largeWheelBytes: threshold });
    const largeA = imageA.groups.find((g) => g.kind === "large")!;
    const largeB = imageB.groups.find((g) => g.kind === "large")!;
    assert.deepEqual(largeA.wheels.map((w) => w.filename), [fastmath.filename]);
    assert.equal(wheelLayerCacheKey(largeA.wheels, target), wheelLayerCacheKey(largeB.wheels, target));
    const tarA = await tarDigest((await wheelGroupEntries(largeA.wheels, target)).entries);
    const tarB = await tarDigest((await wheelGroupEntries(largeB.wheels, target)).entries);
    assert.equal(tarA, tarB, "same wheel, same layer bytes");
    // And the same blob once compressed, by two builds that share no cache (as two machines would).
    for (const compression of ["gzip", "zstd"] as const) {
      const [blobA, blobB] = await Promise.all(
        [largeA, largeB].map(async (group, i) =>
          layerFromEntries((await wheelGroupEntries(group.wheels, target)).entries, { cacheDir: join(work, `blobs-${compression}-${i}`), compression, epoch: 0 }),
        ),
      );
      assert.equal(blobA!.descriptor.digest, blobB!.descriptor.digest, `${compression}: same wheel, same layer blob`);
      assert.equal(blobA!.diffId, `sha256:${tarA}`);
    }
    const sharedA = imageA.groups.find((g) => g.kind === "shared")!;
    assert.notEqual(await tarDigest((await wheelGroupEntries(sharedA.wheels, target)).entries), tarA);
  });

  it("builds a tar that, extracted, lets python import every package and run the console script", async () => {
    const group = await wheelGroupEntries([...downloaded.values()], target);
    assert.deepEqual(group.installed.map((i) => i.project), ["fastmath", "greet", "helper"]);
    assert.deepEqual(group.overwritten, []);
    const tarPath = join(work, "layer.tar");
    await pipeline(tarStream(group.entries, { epoch: 0 }), createWriteStream(tarPath));
    const root = join(work, "extracted");
    await runOk("mkdir", ["-p", root]);
    await runOk("tar", ["-xf", tarPath, "-C", root]);
    const env = { ...process.env, PYTHONPATH: join(root, "usr/local/lib/python3.11/site-packages"), PYTHONDONTWRITEBYTECODE: "1" };
    const imported = await runOk(hostPython, ["-c", "import fastmath, greet; print(fastmath.add(20, 22), greet.greeting('tar'))"], { env });
    assert.equal(imported.stdout, "42 HELLO TAR!\n");
    const script = await runOk("sh", ["-c", `${join(root, "usr/local/bin/greet")} layer; echo "exit=$?"`], { env });
    assert.equal(script.stdout, "HELLO LAYER!\nexit=3\n");
    const listing = (await runOk("tar", ["-tvf", tarPath])).stdout;
    assert.match(listing, /^-rwxr-xr-x 0\/0 .* usr\/local\/bin\/greet$/m);
    assert.match(listing, /^-rw-r--r-- 0\/0 .* usr\/local\/lib\/python3\.11\/site-packages\/greet\/__init__\.py$/m);
  });

  it("lets the wheel later by file name win a path two wheels install, and says which paths", async () => {
    const dir = join(work, "namespace");
    const first = await buildWheel(dir, { name: "ns_alpha", version: "1.0", files: { "ns/__init__.py": "WHO = 'alpha'\n", "ns/alpha.py": "" } });
    const second = await buildWheel(dir, { name: "ns_beta", version: "1.0", files: { "ns/__init__.py": "WHO = 'beta'\n", "ns/beta.py": "" } });
    const group = await wheelGroupEntries([second, first], target);
    assert.deepEqual(group.overwritten, ["/usr/local/lib/python3.11/site-packages/ns/__init__.py"]);
    const init = group.entries.find((e) => e.path.endsWith("ns/__init__.py"))!;
    const chunks: Buffer[] = [];
    for await (const chunk of await init.open!()) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), "WHO = 'beta'\n");
  });
});
