// Blob locations remembered across runs: the store itself (bounded, merged with other writers,
// unharmed by a broken file), and pushes against a real token-auth registry that mount a blob
// from where an earlier push (another Registry object, as another process would be) put it.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Image } from "../../src/oci/index.js";
import { readLayout } from "../../src/oci/layout.js";
import { BlobLocations } from "../../src/registry/index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, removeDir, tempDir, type TestImage } from "../support/tools.js";
import { registryFor } from "./util.js";

const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, "0")}`;

describe("BlobLocations", () => {
  let dir: string;
  before(async () => (dir = await tempDir("blob-locations-")));
  after(async () => removeDir(dir));

  it("remembers repositories per registry and digest, most recent first, a few per blob", async () => {
    const file = join(dir, "a.json");
    const store = new BlobLocations(file, { repositoriesPerBlob: 2 });
    await store.add("reg:5000", digest(1), "team/one", 1);
    await store.add("reg:5000", digest(1), "team/two", 2);
    await store.add("reg:5000", digest(1), "team/three", 3);
    await store.add("other:5000", digest(1), "team/elsewhere", 4);
    assert.deepEqual(await store.repositories("reg:5000", digest(1)), ["team/three", "team/two"]);
    assert.deepEqual(await store.repositories("other:5000", digest(1)), ["team/elsewhere"]);
    await store.save();
    const reread = new BlobLocations(file);
    assert.deepEqual(await reread.repositories("reg:5000", digest(1)), ["team/three", "team/two"]);
    assert.deepEqual(await reread.repositories("reg:5000", digest(2)), []);
  });

  it("keeps only the most recently seen blobs", async () => {
    const file = join(dir, "bounded.json");
    const store = new BlobLocations(file, { blobs: 3 });
    for (let n = 1; n <= 5; n++) await store.add("reg:5000", digest(n), "team/app", n);
    await store.save();
    const reread = new BlobLocations(file);
    const kept = [];
    for (let n = 1; n <= 5; n++) if ((await reread.repositories("reg:5000", digest(n))).length > 0) kept.push(n);
    assert.deepEqual(kept, [3, 4, 5]);
  });

  it("merges with what another writer saved meanwhile, and applies what it forgot", async () => {
    const file = join(dir, "merge.json");
    const first = new BlobLocations(file);
    const second = new BlobLocations(file);
    await first.add("reg:5000", digest(1), "team/one", 1);
    await first.add("reg:5000", digest(2), "team/stale", 1);
    await first.save();
    // `second` read nothing before the first saved; it adds its own and drops a stale entry.
    assert.deepEqual(await second.repositories("reg:5000", digest(7)), []);
    await second.add("reg:5000", digest(3), "team/three", 2);
    await second.forget("reg:5000", digest(2), "team/stale");
    await second.save();
    const reread = new BlobLocations(file);
    assert.deepEqual(await reread.repositories("reg:5000", digest(1)), ["team/one"]);
    assert.deepEqual(await reread.repositories("reg:5000", digest(2)), []);
    assert.deepEqual(await reread.repositories("reg:5000", digest(3)), ["team/three"]);
  });

  it("reads a broken or foreign file as empty, and replaces it on save", async () => {
    const file = join(dir, "broken.json");
    await writeFile(file, '{"format":1,"blobs":{"reg:5000 sha256:ab');
    const store = new BlobLocations(file);
    assert.deepEqual(await store.repositories("reg:5000", digest(1)), []);
    await store.add("reg:5000", digest(1), "team/app");
    await store.save();
    assert.deepEqual(await new BlobLocations(file).repositories("reg:5000", digest(1)), ["team/app"]);
    await writeFile(file, JSON.stringify({ format: 99, blobs: { [`reg:5000 ${digest(1)}`]: { repositories: ["x"], seen: 1 } } }));
    assert.deepEqual(await new BlobLocations(file).repositories("reg:5000", digest(1)), []);
  });

  it("never fails a push over a file it cannot write", async () => {
    const store = new BlobLocations(join(dir, "no-such-dir-is-a-file.json", "locations.json"));
    await writeFile(join(dir, "no-such-dir-is-a-file.json"), "a file, not a directory");
    await store.add("reg:5000", digest(1), "team/app");
    await store.save();
    assert.deepEqual(await store.repositories("reg:5000", digest(1)), ["team/app"]);
  });
});

describe("push mounts from remembered repositories", () => {
  let reg: TestRegistry;
  let image: TestImage;
  let dir: string;

  before(async () => {
    reg = await startRegistry({ mode: "token" });
    image = await makeTestImage({ layers: [{ "etc/remembered": "where it was\n" }, { "usr/share/big": "x".repeat(300_000) }] });
    dir = await tempDir("blob-locations-push-");
  });

  after(async () => {
    await reg.stop();
    await image.cleanup();
    await removeDir(dir);
  });

  /** The image read afresh from its layout: its blobs name no source to mount from. */
  const fresh = async (): Promise<Image> => {
    const read = (await readLayout(image.dir)) as Image;
    assert.ok([read.config, ...read.layers].every((b) => b.sources === undefined));
    return read;
  };

  it("mounts every blob an earlier push put in another repository; nothing is uploaded", async () => {
    const file = join(dir, "locations.json");
    const earlier = registryFor(reg, { blobLocations: new BlobLocations(file) }).registry;
    const first = await earlier.push(`${reg.host}/team/first:v1`, await fresh());
    const blobs = 1 + image.layers.length;
    assert.equal(first.blobs.uploaded, blobs);
    await earlier.close();
    assert.match(await readFile(file, "utf8"), /team\/first/);

    reg.resetRequests();
    const later = registryFor(reg, { blobLocations: new BlobLocations(file) }).registry;
    try {
      const pushed = await fresh();
      const result = await later.push(`${reg.host}/team/second:v1`, pushed);
      assert.deepEqual(result.blobs, { exists: 0, mounted: blobs, uploaded: 0 });
      const reqs = await reg.requests();
      const mounts = reqs.filter((r) => r.method === "POST" && r.path.includes("from=team%2Ffirst"));
      assert.equal(mounts.length, blobs, JSON.stringify(reqs));
      assert.ok(mounts.every((r) => r.status === 201));
      // No blob bytes went out: no PATCH, and the only PUT is the manifest's.
      assert.equal(reqs.filter((r) => r.method === "PATCH").length, 0, JSON.stringify(reqs));
      assert.deepEqual(
        reqs.filter((r) => r.method === "PUT").map((r) => r.path),
        ["/v2/team/second/manifests/v1"],
      );
      // The mount's token asked for pull on the remembered repository.
      const scopes = reg.tokenRequests().map((t) => [...t.scopes].sort().join(" "));
      assert.ok(scopes.includes("repository:team/first:pull repository:team/second:pull,push"), scopes.join("\n"));
      // The new repository is remembered too.
      const store = new BlobLocations(file);
      assert.deepEqual(await store.repositories(reg.host, pushed.layers[0]!.descriptor.digest), ["team/second", "team/first"]);
    } finally {
      await later.close();
    }
  });

  it("falls back to the upload the declined mount opened, sending each blob once, and forgets the wrong repository", async () => {
    const file = join(dir, "wrong.json");
    const pushed = await fresh();
    const wrong = new BlobLocations(file);
    // Remembered, but never pushed there: the registry declines the mount with 202.
    for (const blob of [pushed.config, ...pushed.layers]) await wrong.add(reg.host, blob.descriptor.digest, "team/never-had-it");
    await wrong.save();

    reg.resetRequests();
    const registry = registryFor(reg, { blobLocations: new BlobLocations(file) }).registry;
    try {
      const result = await registry.push(`${reg.host}/team/third:v1`, pushed);
      assert.deepEqual(result.blobs, { exists: 0, mounted: 0, uploaded: 1 + pushed.layers.length });
      const reqs = await reg.requests();
      const posts = reqs.filter((r) => r.method === "POST" && r.path.startsWith("/v2/team/third/blobs/uploads/"));
      // One POST per blob: the declined mount's session carried the upload; no second session.
      assert.equal(posts.length, 1 + pushed.layers.length, JSON.stringify(reqs));
      assert.ok(posts.every((r) => r.status === 202 && r.path.includes("from=team%2Fnever-had-it")));
      const blobPuts = reqs.filter((r) => r.method === "PUT" && r.path.includes("/blobs/uploads/"));
      assert.equal(blobPuts.length, 1 + pushed.layers.length);
      const store = new BlobLocations(file);
      for (const blob of [pushed.config, ...pushed.layers]) assert.deepEqual(await store.repositories(reg.host, blob.descriptor.digest), ["team/third"]);
    } finally {
      await registry.close();
    }
  });

  it("never mounts across registries", async () => {
    const file = join(dir, "other-host.json");
    const pushed = await fresh();
    const store = new BlobLocations(file);
    for (const blob of [pushed.config, ...pushed.layers]) await store.add("elsewhere.example:5000", blob.descriptor.digest, "team/first");
    await store.save();
    reg.resetRequests();
    const registry = registryFor(reg, { blobLocations: new BlobLocations(file) }).registry;
    try {
      const result = await registry.push(`${reg.host}/team/fourth:v1`, pushed);
      assert.deepEqual(result.blobs, { exists: 0, mounted: 0, uploaded: 1 + pushed.layers.length });
      const reqs = await reg.requests();
      assert.equal(reqs.filter((r) => r.path.includes("mount=")).length, 0, JSON.stringify(reqs));
    } finally {
      await registry.close();
    }
  });
});
