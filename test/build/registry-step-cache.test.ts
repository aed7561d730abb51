// The step cache in the registry, against a real docker-registry: the artifact's shape, a store
// that sends nothing when the entry is there, a lookup whose layers are the repository's own
// blobs, and every way a lookup can go wrong reported as a miss or an error, never thrown.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { aptStepArtifact, lookupAptStep, parseAptStepManifest, storeAptStep, type AptStepRecord } from "../../src/build/apt-step.js";
import { basePythonArtifact, lookupBasePython, parseBasePythonManifest, storeBasePython } from "../../src/build/base-python.js";
import { lookupStepCache, parseStepCacheManifest, stepCacheArtifact, storeStepCache, type PythonStepRecord } from "../../src/build/python-record.js";
import { cacheTag } from "../../src/build/step-keys.js";
import { STEP_CACHE_ARTIFACT_TYPE } from "../../src/build/steps/artifact.js";
import { bufferBlob, encodeJson, MediaType, sha256, type Blob } from "../../src/oci/index.js";
import type { DiscoveredPython } from "../../src/python/index.js";
import { prefixScheme } from "../../src/python/scheme.js";
import { parseReference } from "../../src/reference/index.js";
import type { Registry } from "../../src/registry/index.js";
import { drain, registryFor } from "../registry/util.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTar } from "../support/tools.js";

async function recordAndLayer(key: string): Promise<{ record: PythonStepRecord; layer: Blob }> {
  const tar = await makeTar({ "usr/local/lib/python3.11/site-packages/helper/__init__.py": "X = 1\n" });
  const layer = bufferBlob(MediaType.OciLayerGzip, gzipSync(tar));
  const record: PythonStepRecord = {
    key,
    platform: "linux/amd64",
    python: { version: "3.11", interpreter: "/usr/local/bin/python3.11" },
    wheels: [{ filename: "helper-1.2-py3-none-any.whl", sha256: "ab".repeat(32) }],
    layers: [{ ...layer.descriptor, diffId: sha256(tar), kind: "shared", wheels: ["helper-1.2-py3-none-any.whl"] }],
  };
  return { record, layer };
}

describe("registry step cache", () => {
  let reg: TestRegistry;
  let registry: Registry;
  const repository = () => parseReference(`${reg.host}/team/cached`);

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
  });
  after(async () => {
    await registry.close();
    await reg.stop();
  });

  it("describes a step as an OCI artifact and reads it back exactly", async () => {
    const key = sha256("step one");
    const { record, layer } = await recordAndLayer(key);
    const artifact = stepCacheArtifact(record, [layer]);
    assert.equal(artifact.manifest.artifactType, STEP_CACHE_ARTIFACT_TYPE);
    assert.deepEqual(artifact.manifest.config, { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256("{}"), size: 2 });
    assert.deepEqual(parseStepCacheManifest(artifact.manifestBytes, key), record);
    assert.equal(stepCacheArtifact(record, [layer]).digest, artifact.digest, "the same record gives the same artifact");

    const reject = (bytes: Buffer, pattern: RegExp) => assert.throws(() => parseStepCacheManifest(bytes, key), (e: Error & { code?: string }) => e.code === "STEP_CACHE_INVALID" && pattern.test(e.message));
    assert.throws(() => parseStepCacheManifest(artifact.manifestBytes, sha256("another step")), /written for key/);
    const edit = (change: (m: Record<string, unknown> & typeof artifact.manifest) => void) => {
      const copy = structuredClone(artifact.manifest) as Record<string, unknown> & typeof artifact.manifest;
      change(copy);
      return encodeJson(copy);
    };
    reject(edit((m) => (m.artifactType = "application/vnd.example+json")), /artifactType/);
    reject(edit((m) => delete m.layers[0]!.annotations!["dev.imagespec.layer.diff-id"]), /no diffID/);
    reject(edit((m) => (m.layers[0]!.mediaType = "application/vnd.oci.image.manifest.v1+json")), /unexpected descriptor/);
    reject(edit((m) => (m.annotations!["dev.imagespec.step-cache.wheels"] = "not json")), /not JSON/);
    reject(edit((m) => (m.layers[0]!.annotations!["dev.imagespec.layer.wheels"] = '["not-a-wheel.tar.gz"]')), /do not describe a python step/);
    reject(Buffer.from("<html>"), /not JSON/);
  });

  it("stores once, then finds the entry present without sending anything", async () => {
    const key = sha256("store twice");
    const { record, layer } = await recordAndLayer(key);
    const stored = await storeStepCache(registry, repository(), record, [layer]);
    assert.deepEqual([stored.status, stored.tag], ["stored", cacheTag(key)]);
    reg.resetRequests();
    const again = await storeStepCache(registry, repository(), record, [layer]);
    assert.equal(again.status, "present");
    const writes = (await reg.requests()).filter((r) => r.method !== "GET" && r.method !== "HEAD");
    assert.deepEqual(writes, []);
  });

  it("finds a stored step: the layers are the repository's blobs, named as mount sources", async () => {
    const key = sha256("lookup hit");
    const { record, layer } = await recordAndLayer(key);
    await storeStepCache(registry, repository(), record, [layer]);
    const found = await lookupStepCache(registry, repository(), key);
    assert.equal(found.status, "hit");
    if (found.status !== "hit") return;
    assert.deepEqual(found.record, record);
    assert.deepEqual(found.layers.map((l) => l.descriptor), [layer.descriptor]);
    assert.deepEqual(found.layers[0]!.sources, [{ registry: reg.host, repository: "team/cached" }]);
    assert.deepEqual(await drain(found.layers[0]!), { digest: layer.descriptor.digest, size: layer.descriptor.size });
  });

  it("is a miss for an absent tag or repository, and an error (not an exception) for a foreign entry or refused access", async () => {
    assert.equal((await lookupStepCache(registry, repository(), sha256("never stored"))).status, "miss");
    assert.equal((await lookupStepCache(registry, parseReference(`${reg.host}/no/such-repo`), sha256("x"))).status, "miss");

    // An entry for another key under this key's tag (a collision, or someone's hand-made tag).
    const key = sha256("collided");
    const { record, layer } = await recordAndLayer(sha256("the other step"));
    await registry.push({ ...repository(), tag: cacheTag(key) }, stepCacheArtifact(record, [layer]));
    const foreign = await lookupStepCache(registry, repository(), key);
    assert.equal(foreign.status, "error");
    assert.match(String((foreign as { error: Error }).error.message), /written for key/);

    const locked = await startRegistry({ mode: "basic" });
    const wrong = registryFor(locked, { credentials: { username: locked.username!, password: "wrong" } }).registry;
    try {
      const refused = await lookupStepCache(wrong, parseReference(`${locked.host}/team/cached`), key);
      assert.equal(refused.status, "error");
      assert.match(String((refused as { error: Error & { code?: string } }).error.code), /UNAUTHORIZED|DENIED/);
    } finally {
      await wrong.close();
      await locked.stop();
    }
  });

  it("keeps a base's interpreter as a layerless entry, and refuses one with paths that are not absolute", async () => {
    const python: DiscoveredPython = {
      layout: "python.org",
      version: "3.11",
      prefix: "/usr/local",
      scheme: prefixScheme("/usr/local", "3.11"),
      interpreter: "/usr/local/bin/python3.11",
      sitePackages: "/usr/local/lib/python3.11/site-packages",
      externallyManaged: false,
    };
    const key = sha256("base layers + env");
    const facts = { python, libc: { family: "glibc" as const, version: "2.36" } };
    const artifact = basePythonArtifact(key, facts);
    assert.deepEqual(artifact.manifest.layers, []);
    assert.deepEqual(parseBasePythonManifest(artifact.manifestBytes, key), facts);
    const relative = basePythonArtifact(key, { python: { ...python, scheme: { ...python.scheme, purelib: "lib/site-packages" } } });
    assert.throws(() => parseBasePythonManifest(relative.manifestBytes, key), /not a normalised absolute path/);
    // A python step's entry is not a base-python entry, even under the right key.
    const { record, layer } = await recordAndLayer(key);
    assert.throws(() => parseBasePythonManifest(stepCacheArtifact(record, [layer]).manifestBytes, key), /not a base-python step/);

    assert.equal((await storeBasePython(registry, repository(), key, facts)).status, "stored");
    const found = await lookupBasePython(registry, repository(), key);
    assert.deepEqual(found.status === "hit" ? found.facts : found, facts);
  });

  it("keeps an apt step as a one-layer entry with its packages and warnings, found again as the repository's blob", async () => {
    const key = sha256("apt step");
    const tar = await makeTar({ "usr/bin/jq": "\u007fELF jq\n", "var/lib/dpkg/status": "Package: jq\nStatus: install ok installed\n" });
    const layer = bufferBlob(MediaType.OciLayerGzip, gzipSync(tar));
    const record: AptStepRecord = {
      key,
      platform: "linux/arm64/v8",
      packages: ["jq=1.6-2.1+deb12u1", "libjq1=1.6-2.1+deb12u1"],
      warnings: ["foo's postinst runs adduser, which the native builder does not run"],
      layer: { ...layer.descriptor, diffId: sha256(tar) },
    };
    const artifact = aptStepArtifact(record, layer);
    assert.equal(artifact.manifest.artifactType, STEP_CACHE_ARTIFACT_TYPE);
    assert.equal(artifact.manifest.layers.length, 1);
    assert.deepEqual(parseAptStepManifest(artifact.manifestBytes, key), record);

    const edit = (change: (m: Record<string, unknown> & typeof artifact.manifest) => void) => {
      const copy = structuredClone(artifact.manifest) as Record<string, unknown> & typeof artifact.manifest;
      change(copy);
      return encodeJson(copy);
    };
    const reject = (bytes: Buffer, pattern: RegExp) => assert.throws(() => parseAptStepManifest(bytes, key), (e: Error & { code?: string }) => e.code === "STEP_CACHE_INVALID" && pattern.test(e.message));
    reject(edit((m) => delete m.layers[0]!.annotations!["dev.imagespec.layer.diff-id"]), /no diffID/);
    reject(edit((m) => (m.layers = [])), /has 0 layers, not 1/);
    reject(edit((m) => (m.annotations!["dev.imagespec.step-cache.apt-packages"] = '{"jq":1}')), /do not describe an apt step/);
    // A python step's entry is not an apt entry, even under the right key.
    const python = await recordAndLayer(key);
    reject(stepCacheArtifact(python.record, [python.layer]).manifestBytes, /not a apt step/);

    assert.equal((await storeAptStep(registry, repository(), record, layer)).status, "stored");
    assert.equal((await storeAptStep(registry, repository(), record, layer)).status, "present");
    const found = await lookupAptStep(registry, repository(), key);
    assert.equal(found.status, "hit");
    if (found.status !== "hit") return;
    assert.deepEqual(found.record, record);
    assert.deepEqual(found.layer.sources, [{ registry: reg.host, repository: "team/cached" }]);
    assert.deepEqual(await drain(found.layer), { digest: layer.descriptor.digest, size: layer.descriptor.size });
    assert.equal((await lookupAptStep(registry, repository(), sha256("no such apt step"))).status, "miss");
  });
});
