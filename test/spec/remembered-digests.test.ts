// Digests of big files remembered between processes: used while the file's stamp holds, never
// made for a small file or for one changed just before it was read, and a damaged or foreign
// record is a miss.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileDigest } from "../../src/spec/index.js";
import { REMEMBERED_MIN_BYTES, rememberedDigest } from "../../src/spec/remembered-digests.js";
import { removeDir, tempDir } from "../support/tools.js";

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir("imagespec-remembered-");
});
after(async () => {
  await removeDir(dir);
});

const sha = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function newFile(size: number): Promise<{ path: string; bytes: Buffer }> {
  const path = join(dir, `file-${++n}.bin`);
  const bytes = randomBytes(size);
  await writeFile(path, bytes);
  return { path, bytes };
}

describe("remembered file digests", () => {
  it("a big file's digest is recorded and handed out while the file's stamp is the same", async () => {
    const rememberIn = join(dir, `digests-${++n}`);
    const { path, bytes } = await newFile(REMEMBERED_MIN_BYTES + 1);
    assert.equal(await fileDigest(path, { rememberIn, settleMs: 0 }), sha(bytes));
    const [record] = await readdir(rememberIn);
    assert.ok(record?.endsWith(".json"), "one record");
    assert.deepEqual(JSON.parse(await readFile(join(rememberIn, record!), "utf8")).digest, sha(bytes));
    assert.equal(await rememberedDigest({ rememberIn }, path, await stat(path, { bigint: true })), sha(bytes));
    // Any write moves the stamp (ctime at least; past the file clock's tick), and the record no longer counts.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writeFile(path, bytes);
    assert.equal(await rememberedDigest({ rememberIn }, path, await stat(path, { bigint: true })), undefined);
  });

  it("a file changed shortly before it was read, or a small one, is not recorded", async () => {
    const rememberIn = join(dir, `digests-${++n}`);
    const fresh = await newFile(REMEMBERED_MIN_BYTES + 1);
    assert.equal(await fileDigest(fresh.path, { rememberIn }), sha(fresh.bytes), "written just now: left alone for less than 2 s");
    const small = await newFile(REMEMBERED_MIN_BYTES - 1);
    assert.equal(await fileDigest(small.path, { rememberIn, settleMs: 0 }), sha(small.bytes));
    assert.deepEqual(await readdir(rememberIn).catch(() => []), []);
  });

  it("a digest this process learnt without a folder is recorded when it is next asked for with one", async () => {
    // As `workflow register` does: the image name first (no folder), then the build (with one).
    const rememberIn = join(dir, `digests-${++n}`);
    const { path, bytes } = await newFile(REMEMBERED_MIN_BYTES);
    assert.equal(await fileDigest(path), sha(bytes));
    assert.deepEqual(await readdir(rememberIn).catch(() => []), []);
    assert.equal(await fileDigest(path, { rememberIn, settleMs: 0 }), sha(bytes));
    assert.equal(await rememberedDigest({ rememberIn }, path, await stat(path, { bigint: true })), sha(bytes));
  });

  it("a damaged record, or one made for another path, is a miss", async () => {
    const rememberIn = join(dir, `digests-${++n}`);
    const { path, bytes } = await newFile(REMEMBERED_MIN_BYTES);
    await fileDigest(path, { rememberIn, settleMs: 0 });
    const [record] = await readdir(rememberIn);
    const file = join(rememberIn, record!);
    const info = await stat(path, { bigint: true });
    const good = JSON.parse(await readFile(file, "utf8")) as { path: string; stamp: string; digest: string };
    await writeFile(file, JSON.stringify({ ...good, path: `${path}-elsewhere` }));
    assert.equal(await rememberedDigest({ rememberIn }, path, info), undefined);
    await writeFile(file, JSON.stringify({ ...good, digest: "sha256:not-hex" }));
    assert.equal(await rememberedDigest({ rememberIn }, path, info), undefined);
    await writeFile(file, "{ half a rec");
    assert.equal(await rememberedDigest({ rememberIn }, path, info), undefined);
    assert.equal(good.digest, sha(bytes));
  });
});
