// Step cache keys: every input that changes a layer's bytes changes the key, nothing else does,
// and the registry tag made from a key is valid, recognisable and stable across releases.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { aptStepKey, cacheTag, CACHE_TAG_PREFIX, filesLayerKey, pythonStepKey, wheelLayerKey, type LayerIdentity } from "../../src/build/step-keys.js";
import { sha256 } from "../../src/oci/index.js";
import type { InstallTarget } from "../../src/python/index.js";
import { prefixScheme } from "../../src/python/scheme.js";
import { checkTag } from "../../src/reference/index.js";

const identity: LayerIdentity = { compressor: "gzip/node-zlib-1.3.1/level-6/block-1048576", epoch: 0 };
const target: InstallTarget = { scheme: prefixScheme("/usr/local", "3.11"), interpreter: "/usr/local/bin/python3.11" };
const input = { resolutionKey: sha256("resolution inputs"), target, largeWheelBytes: 20 << 20, ...identity };

describe("step cache keys", () => {
  it("a Python step key changes with each input that decides the layers", () => {
    const key = pythonStepKey(input);
    assert.match(key, /^sha256:[0-9a-f]{64}$/);
    const variants = [
      { ...input, resolutionKey: sha256("other requirements") },
      { ...input, target: { ...target, interpreter: "/usr/local/bin/python3" } },
      { ...input, target: { ...target, scheme: { ...target.scheme, purelib: "/usr/local/lib/python3.11/dist-packages" } } },
      { ...input, target: { ...target, scheme: { ...target.scheme, scripts: "/opt/bin" } } },
      { ...input, largeWheelBytes: 10 << 20 },
      { ...input, compressor: "zstd/cli-1.5.4/level-3" },
      { ...input, epoch: 1700000000 },
    ];
    const keys = new Set([key, ...variants.map(pythonStepKey)]);
    assert.equal(keys.size, variants.length + 1);
  });

  it("an apt step key changes with the base, each resolved package and the layer identity, not with their order", () => {
    const curl = { name: "curl", version: "7.88.1-10+deb12u12", architecture: "amd64", sha256: "aa".repeat(32) };
    const jq = { name: "jq", version: "1.6-2.1+deb12u1", architecture: "amd64", sha256: "bb".repeat(32) };
    const apt = { baseLayers: [sha256("base layer")], packages: [curl, jq], layout: 1, ...identity };
    const key = aptStepKey(apt);
    assert.match(key, /^sha256:[0-9a-f]{64}$/);
    assert.equal(aptStepKey({ ...apt, packages: [jq, curl] }), key);
    // Extra fields (the index's other data) are not part of the key.
    assert.equal(aptStepKey({ ...apt, packages: [{ ...curl, filename: "pool/main/c/curl.deb" } as typeof curl, jq] }), key);
    const variants = [
      { ...apt, baseLayers: [sha256("base layer"), sha256("another")] },
      { ...apt, packages: [curl] },
      { ...apt, packages: [{ ...curl, version: "7.88.1-10+deb12u13" }, jq] },
      { ...apt, packages: [{ ...curl, architecture: "arm64" }, jq] },
      { ...apt, packages: [{ ...curl, sha256: "cc".repeat(32) }, jq] },
      { ...apt, layout: 2 },
      { ...apt, compressor: "zstd/cli-1.5.4/level-3" },
      { ...apt, epoch: 1700000000 },
    ];
    const keys = new Set([key, ...variants.map(aptStepKey)]);
    assert.equal(keys.size, variants.length + 1);
  });

  it("does not depend on how the inputs were written (scheme key order)", () => {
    const s = target.scheme;
    const reordered: InstallTarget = { interpreter: target.interpreter, scheme: { headers: s.headers, data: s.data, scripts: s.scripts, platlib: s.platlib, purelib: s.purelib } };
    assert.equal(pythonStepKey({ ...input, target: reordered }), pythonStepKey(input));
  });

  it("keeps the keys of different steps apart even for equal inputs", () => {
    const digest = sha256("same");
    assert.notEqual(wheelLayerKey(digest, identity), filesLayerKey(digest, "/root", identity));
    assert.notEqual(filesLayerKey(digest, "/root", identity), filesLayerKey(digest, "/app", identity));
    assert.notEqual(wheelLayerKey(digest, identity), wheelLayerKey(digest, { ...identity, epoch: 1 }));
  });

  it("makes a valid, recognisable registry tag from a key, the same in every release", () => {
    const tag = cacheTag(pythonStepKey(input));
    assert.match(tag, new RegExp(`^${CACHE_TAG_PREFIX}[a-z2-7]{26}$`));
    assert.equal(checkTag(tag), undefined);
    // base32 of the key's first 130 bits: changing this breaks every cache already in registries.
    assert.equal(cacheTag(`sha256:${"00".repeat(31)}ff`), "imagespec-cache-aaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert.equal(cacheTag(`sha256:ff${"00".repeat(31)}`), "imagespec-cache-74aaaaaaaaaaaaaaaaaaaaaaaa");
  });
});
