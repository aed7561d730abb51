// Reading wheel members: small ones are read whole (one read, one inflate), big ones stream
// through the zip reader; both give the bytes that were zipped, and both refuse a member whose
// bytes do not match what the central directory says.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { WheelArchive } from "../../src/python/wheel-archive.js";
import { removeDir, tempDir } from "../support/tools.js";
import { zipBytes, type ZipMember } from "../support/wheels.js";

const MIB = 1 << 20;
const CENTRAL_UNCOMPRESSED_SIZE = 24;

describe("WheelArchive", () => {
  let work: string;
  before(async () => {
    work = await tempDir("imagespec-wheel-archive-");
  });
  after(async () => {
    await removeDir(work);
  });

  async function zip(name: string, bytes: Buffer): Promise<string> {
    const path = join(work, name);
    await writeFile(path, bytes);
    return path;
  }

  async function read(archive: WheelArchive, name: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await archive.openMember(name)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Where the central directory starts: the end record (the last 22 bytes) says. */
  const centralStart = (bytes: Buffer): number => bytes.readUInt32LE(bytes.length - 22 + 16);

  it("gives back every member as zipped: small and big, deflated and stored, empty", async () => {
    const text = Buffer.from("def f(x):\n    return x\n".repeat(2000));
    const members: ZipMember[] = [
      { name: "pkg/small.py", data: text },
      { name: "pkg/stored.txt", data: Buffer.from("stored as is\n"), stored: true },
      { name: "pkg/empty.py", data: Buffer.alloc(0) },
      { name: "pkg/big.so", data: Buffer.concat([randomBytes(MIB), text, text]) },
      { name: "pkg/big-stored.bin", data: randomBytes(MIB + 1), stored: true },
      { name: "pkg/edge.bin", data: randomBytes(MIB) },
    ];
    const archive = await WheelArchive.open(await zip("all.whl", zipBytes(members)));
    for (const member of members) {
      assert.ok((await read(archive, member.name)).equals(member.data), member.name);
      assert.equal(archive.member(member.name)?.size, member.data.length);
    }
    assert.ok((await archive.readMember("pkg/small.py")).equals(text));
  });

  it("lists a central directory larger than one read of it, every member in order", async () => {
    // 4000 members with 80-byte names: a directory of about 500 kB, read in several windows.
    const members: ZipMember[] = Array.from({ length: 4000 }, (_, i) => ({
      name: `pkg/${String(i).padStart(5, "0")}/${"m".repeat(64)}.py`,
      data: Buffer.from(`n = ${i}\n`),
    }));
    const archive = await WheelArchive.open(await zip("many.whl", zipBytes(members)));
    assert.deepEqual(
      archive.members.map((m) => m.name),
      members.map((m) => m.name),
    );
    for (const i of [0, 1999, 3999]) assert.equal((await archive.readMember(members[i]!.name)).toString(), `n = ${i}\n`);
  });

  it("finds a member's data after a local extra field the central directory does not have", async () => {
    const data = Buffer.from("x = 1\n".repeat(100));
    const plain = zipBytes([{ name: "pkg/a.py", data }]);
    // Insert 64 bytes of extra field into the local header (after its 30 bytes and the name) and
    // move the central directory's offset in the end record along.
    const nameEnd = 30 + "pkg/a.py".length;
    const extra = Buffer.alloc(64);
    extra.writeUInt16LE(0xcafe, 0);
    extra.writeUInt16LE(60, 2);
    const bytes = Buffer.concat([plain.subarray(0, nameEnd), extra, plain.subarray(nameEnd)]);
    bytes.writeUInt16LE(64, 28);
    bytes.writeUInt32LE(centralStart(plain) + 64, bytes.length - 22 + 16);
    const archive = await WheelArchive.open(await zip("extra.whl", bytes));
    assert.ok((await read(archive, "pkg/a.py")).equals(data));
  });

  for (const [what, delta] of [
    ["more", -1],
    ["fewer", 1],
  ] as const) {
    it(`refuses a small member that inflates to ${what} bytes than the directory says, naming it`, async () => {
      const bytes = zipBytes([{ name: "pkg/liar.py", data: Buffer.from("print('hello')\n".repeat(50)) }]);
      const field = centralStart(bytes) + CENTRAL_UNCOMPRESSED_SIZE;
      bytes.writeUInt32LE(bytes.readUInt32LE(field) + delta, field);
      const archive = await WheelArchive.open(await zip(`liar-${what}.whl`, bytes));
      await assert.rejects(read(archive, "pkg/liar.py"), (error: Error & { code?: string }) => {
        assert.equal(error.code, "WHEEL_INVALID");
        assert.match(error.message, new RegExp(`liar-${what}\\.whl: pkg/liar\\.py is not a readable zip archive: ${what} bytes than the expected`));
        return true;
      });
    });

    it(`fails the stream of a big member that inflates to ${what} bytes than the directory says`, async () => {
      // Over 1 MiB inflated, so it streams; the failure comes with the bytes, as the layer writer reads them.
      const data = Buffer.from("def f(x):\n    return x\n".repeat(60_000));
      const bytes = zipBytes([{ name: "pkg/big.py", data }]);
      const field = centralStart(bytes) + CENTRAL_UNCOMPRESSED_SIZE;
      bytes.writeUInt32LE(data.length + delta, field);
      const archive = await WheelArchive.open(await zip(`big-liar-${what}.whl`, bytes));
      await assert.rejects(read(archive, "pkg/big.py"), new RegExp(`${what} bytes( \\(\\d+\\))? than the expected ${data.length + delta}`));
    });
  }

  it("refuses a member whose local header is not one", async () => {
    const bytes = zipBytes([{ name: "pkg/a.py", data: Buffer.from("x = 1\n") }]);
    bytes.writeUInt32LE(0xdeadbeef, 0);
    const archive = await WheelArchive.open(await zip("header.whl", bytes));
    await assert.rejects(read(archive, "pkg/a.py"), { code: "WHEEL_INVALID", message: /header\.whl: pkg\/a\.py .*local file header signature/ });
  });
});
