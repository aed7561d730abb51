import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { chown, mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { LayerError, tarStream, type LayerEntry } from "../../src/layer/index.js";
import { normaliseEntryPath, planEntries } from "../../src/layer/entries.js";
import { removeDir, runOk, tempDir } from "../support/tools.js";
import { collect, memoryFile, readTar } from "./helpers.js";

async function tarOf(entries: LayerEntry[], options: { epoch?: number } = {}): Promise<Buffer> {
  return collect(tarStream(entries, options));
}

/** GNU tar's own listing: an independent reader of what we wrote. */
async function gnuList(dir: string, tar: Buffer): Promise<string[]> {
  const file = join(dir, `list-${Math.random().toString(36).slice(2)}.tar`);
  await writeFile(file, tar);
  const { stdout } = await runOk("tar", ["--numeric-owner", "--full-time", "-tvf", file]);
  return stdout.trim().split("\n");
}

function assertLayerError(code: string, pathInMessage: string) {
  return (error: unknown) => {
    assert.ok(error instanceof LayerError, `expected a LayerError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.ok(error.message.includes(pathInMessage), `message ${JSON.stringify(error.message)} should name ${pathInMessage}`);
    return true;
  };
}

describe("tarStream", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir("imagespec-tar-");
  });
  after(async () => {
    await removeDir(dir);
  });

  it("writes the same bytes whatever the input order, host mtimes and host owners", async () => {
    const hostA = join(dir, "host-a");
    const hostB = join(dir, "host-b");
    for (const [host, when, owner] of [[hostA, 1_000_000_000, 1234], [hostB, 1_600_000_000, 4321]] as const) {
      await mkdir(host, { recursive: true });
      await writeFile(join(host, "app.py"), "print('hi')\n");
      await writeFile(join(host, "data.bin"), Buffer.alloc(70_000, 7));
      await utimes(join(host, "app.py"), when, when);
      await utimes(join(host, "data.bin"), when, when);
      if (process.getuid?.() === 0) {
        await chown(join(host, "app.py"), owner, owner);
        await chown(join(host, "data.bin"), owner, owner);
      }
    }
    const entries = (host: string): LayerEntry[] => [
      { path: "app/app.py", type: "file", mode: 0o644, source: join(host, "app.py") },
      { path: "/app/data.bin", type: "file", mode: 0o600, source: join(host, "data.bin") },
      { path: "app/bin", type: "dir", mode: 0o755 },
      { path: "app/bin/run", type: "symlink", mode: 0o777, linkTarget: "../app.py" },
    ];
    const forward = await tarOf(entries(hostA));
    const backward = await tarOf(entries(hostB).reverse());
    assert.ok(forward.equals(backward), "tar bytes differ between input orders / host metadata");
    const read = await readTar(forward);
    assert.deepEqual(read.map((e) => [e.name, e.mtime, e.uid, e.gid]), [
      ["app/", 0, 0, 0],
      ["app/app.py", 0, 0, 0],
      ["app/bin/", 0, 0, 0],
      ["app/bin/run", 0, 0, 0],
      ["app/data.bin", 0, 0, 0],
    ]);
    assert.equal(read.find((e) => e.name === "app/data.bin")!.content.length, 70_000);
  });

  it("sorts entries bytewise by path", async () => {
    const read = await readTar(await tarOf([
      memoryFile("b", "b"),
      memoryFile("a-b", "x"),
      memoryFile("a/z", "z"),
      memoryFile("A", "A"),
      memoryFile("\u00e9", "e"), // é is 0xc3 0xa9 in UTF-8, after every ASCII name
      memoryFile("a.txt", "t"),
    ]));
    // Directories sort by their path without the trailing slash, so "a/" precedes "a-b".
    assert.deepEqual(read.map((e) => e.name), ["A", "a/", "a-b", "a.txt", "a/z", "b", "\u00e9"]);
  });

  it("adds missing parent directories, 0755 root:root, before their children", async () => {
    const read = await readTar(await tarOf([
      memoryFile("usr/local/bin/tool", "#!/bin/sh\n", 0o755),
      { path: "usr/local", type: "dir", mode: 0o700, uid: 5, gid: 6 },
    ]));
    assert.deepEqual(read.map((e) => [e.name, e.type, e.mode, e.uid, e.gid]), [
      ["usr/", "directory", 0o755, 0, 0],
      ["usr/local/", "directory", 0o700, 5, 6],
      ["usr/local/bin/", "directory", 0o755, 0, 0],
      ["usr/local/bin/tool", "file", 0o755, 0, 0],
    ]);
  });

  it("stamps SOURCE_DATE_EPOCH on every entry, and the epoch option overrides it", async () => {
    const saved = process.env.SOURCE_DATE_EPOCH;
    try {
      process.env.SOURCE_DATE_EPOCH = "1700000000";
      const fromEnv = await readTar(await tarOf([memoryFile("etc/hostname", "box\n")]));
      assert.deepEqual(fromEnv.map((e) => e.mtime), [1_700_000_000, 1_700_000_000]);
      const listing = await gnuList(dir, await tarOf([memoryFile("etc/hostname", "box\n")]));
      assert.ok(listing.every((line) => line.includes("2023-11-14 22:13:20")), listing.join("\n"));

      const explicit = await readTar(await tarOf([memoryFile("etc/hostname", "box\n")], { epoch: 86_400 }));
      assert.deepEqual(explicit.map((e) => e.mtime), [86_400, 86_400]);

      process.env.SOURCE_DATE_EPOCH = "yesterday";
      assert.throws(() => tarStream([memoryFile("x", "")]), (e: unknown) => e instanceof LayerError && e.code === "LAYER_INVALID_EPOCH");
      delete process.env.SOURCE_DATE_EPOCH;
      const unset = await readTar(await tarOf([memoryFile("x", "")]));
      assert.deepEqual(unset.map((e) => e.mtime), [0]);
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
  });

  it("keeps modes (setuid, setgid, sticky, 0) and numeric owners, with no user names", async () => {
    const tar = await tarOf([
      memoryFile("usr/bin/run.sh", "#!/bin/sh\necho hi\n", 0o755),
      memoryFile("etc/app.conf", "x=1\n", 0o644),
      memoryFile("usr/bin/su", "binary", 0o4755),
      memoryFile("etc/shadow", "root:*:1::::::\n", 0),
      { path: "var/mail", type: "dir", mode: 0o2775, gid: 8 },
      { path: "tmp", type: "dir", mode: 0o1777 },
      memoryFile("home/app/notes", "n", 0o640, { uid: 1000, gid: 1000 }),
      { path: "srv/stat-style", type: "file", mode: 0o100700 }, // stat()'s mode: file-type bits are dropped
    ]);
    const read = await readTar(tar);
    const modes = Object.fromEntries(read.map((e) => [e.name, [e.mode, e.uid, e.gid]]));
    assert.deepEqual(modes["usr/bin/run.sh"], [0o755, 0, 0]);
    assert.deepEqual(modes["etc/app.conf"], [0o644, 0, 0]);
    assert.deepEqual(modes["usr/bin/su"], [0o4755, 0, 0]);
    assert.deepEqual(modes["etc/shadow"], [0, 0, 0]);
    assert.deepEqual(modes["var/mail/"], [0o2775, 0, 8]);
    assert.deepEqual(modes["tmp/"], [0o1777, 0, 0]);
    assert.deepEqual(modes["home/app/notes"], [0o640, 1000, 1000]);
    assert.deepEqual(modes["srv/stat-style"], [0o700, 0, 0]);
    assert.ok(read.every((e) => e.uname === "" && e.gname === ""), "user and group names must be empty");

    const listing = await gnuList(dir, tar);
    const line = (name: string) => listing.find((l) => l.endsWith(` ${name}`)) ?? assert.fail(`${name} not listed:\n${listing.join("\n")}`);
    assert.match(line("usr/bin/run.sh"), /^-rwxr-xr-x 0\/0 /);
    assert.match(line("etc/app.conf"), /^-rw-r--r-- 0\/0 /);
    assert.match(line("usr/bin/su"), /^-rwsr-xr-x 0\/0 /);
    assert.match(line("etc/shadow"), /^---------- 0\/0 /);
    assert.match(line("var/mail/"), /^drwxrwsr-x 0\/8 /);
    assert.match(line("tmp/"), /^drwxrwxrwt 0\/0 /);
    assert.match(line("home/app/notes"), /^-rw-r----- 1000\/1000 /);
  });

  it("writes symlinks with their target text as given", async () => {
    const tar = await tarOf([
      { path: "usr/bin/python", type: "symlink", mode: 0o777, linkTarget: "python3.12" },
      { path: "etc/localtime", type: "symlink", mode: 0o777, linkTarget: "/usr/share/zoneinfo/UTC" },
    ]);
    const links = (await readTar(tar)).filter((e) => e.type === "symlink").map((e) => [e.name, e.linkname, e.size]);
    assert.deepEqual(links, [
      ["etc/localtime", "/usr/share/zoneinfo/UTC", 0],
      ["usr/bin/python", "python3.12", 0],
    ]);
    const listing = await gnuList(dir, tar);
    assert.ok(listing.some((l) => l.endsWith("usr/bin/python -> python3.12")), listing.join("\n"));
  });

  it("writes hardlinks after their content, whichever name the caller made the file", async () => {
    const content = "shared bytes\n";
    const declaredOnB = await tarOf([
      memoryFile("bin/b", content, 0o755),
      { path: "bin/a", type: "hardlink", mode: 0o644, linkTarget: "/bin/b" },
      { path: "bin/c", type: "hardlink", mode: 0o600, linkTarget: "bin/a" }, // a link to a link
    ]);
    const declaredOnC = await tarOf([
      { path: "bin/a", type: "hardlink", mode: 0o755, linkTarget: "bin/c" },
      { path: "bin/b", type: "hardlink", mode: 0o755, linkTarget: "bin/c" },
      memoryFile("bin/c", content, 0o755),
    ]);
    assert.ok(declaredOnB.equals(declaredOnC), "the same hardlink group must give the same bytes");
    const read = await readTar(declaredOnB);
    assert.deepEqual(read.map((e) => [e.name, e.type, e.linkname, e.mode, e.content.toString()]), [
      ["bin/", "directory", null, 0o755, ""],
      ["bin/a", "file", null, 0o755, content],
      ["bin/b", "link", "bin/a", 0o755, ""],
      ["bin/c", "link", "bin/a", 0o755, ""],
    ]);
    const out = join(dir, "hardlinks");
    await mkdir(out);
    await writeFile(join(dir, "hardlinks.tar"), declaredOnB);
    await runOk("tar", ["-xf", join(dir, "hardlinks.tar"), "-C", out]);
    const inodes = await Promise.all(["a", "b", "c"].map(async (n) => (await stat(join(out, "bin", n))).ino));
    assert.equal(new Set(inodes).size, 1, "extracted names should share one inode");
    assert.equal(await readFile(join(out, "bin", "c"), "utf8"), content);
  });

  it("uses ustar for paths up to 255 bytes and PAX only beyond what ustar holds", async () => {
    const splitable = `opt/${"d".repeat(120)}/${"f".repeat(90)}`; // 215 bytes: prefix + name, no PAX
    const tooLong = `opt/${"e".repeat(160)}/${"g".repeat(120)}`; // prefix would exceed 155 bytes
    const longTarget = `../${"t".repeat(150)}`;
    const tar = await tarOf([
      memoryFile(splitable, "one"),
      memoryFile(tooLong, "two"),
      { path: "opt/link", type: "symlink", mode: 0o777, linkTarget: longTarget },
      memoryFile("opt/big-owner", "", 0o644, { uid: 3_000_000_000, gid: 4_000_000 }),
      memoryFile("opt/short", "three"),
    ]);
    const read = await readTar(tar);
    const byName = new Map(read.map((e) => [e.name, e]));
    assert.equal(byName.get(splitable)?.pax, null);
    assert.equal(byName.get(splitable)?.content.toString(), "one");
    assert.equal(byName.get(tooLong)?.pax?.path, tooLong);
    assert.equal(byName.get(tooLong)?.content.toString(), "two");
    assert.equal(byName.get("opt/link")?.linkname, longTarget);
    assert.equal(byName.get("opt/link")?.pax?.linkpath, longTarget);
    assert.deepEqual(byName.get("opt/big-owner")?.pax, { path: "opt/big-owner", uid: "3000000000", gid: "4000000" });
    assert.equal(byName.get("opt/short")?.pax, null);
    assert.equal(byName.get(`opt/${"d".repeat(120)}/`)?.pax, null);

    const listing = await gnuList(dir, tar);
    for (const name of [splitable, tooLong, `opt/link -> ${longTarget}`]) {
      assert.ok(listing.some((l) => l.endsWith(` ${name}`)), `GNU tar does not list ${name.slice(0, 40)}...`);
    }
    assert.ok(listing.some((l) => l.includes(" 3000000000/4000000 ") && l.endsWith(" opt/big-owner")), listing.join("\n"));
  });

  it("records sizes beyond ustar's 8 GiB in PAX, and stops reading content when the reader stops", async () => {
    const size = 9 * 1024 ** 3;
    const zeros = Buffer.alloc(64 * 1024);
    let produced = 0;
    const content = new Readable({
      read() {
        produced += zeros.length;
        this.push(zeros);
      },
    });
    const tar = tarStream([{ path: "big.img", type: "file", mode: 0o644, size, open: () => content }]);
    const head: Buffer[] = [];
    let length = 0;
    for await (const chunk of tar) {
      head.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= 1536) break; // leaving the loop destroys the tar stream
    }
    const blocks = Buffer.concat(head);
    assert.equal(String.fromCharCode(blocks[156]!), "x", "first header should be a PAX header");
    assert.match(blocks.subarray(512, 1024).toString("latin1"), new RegExp(` size=${size}\n`));
    assert.equal(blocks[1024 + 124], 0x80, "the entry header should carry the size in GNU base-256 form too");
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(content.destroyed, "the content stream should be closed once the tar stream is");
    assert.ok(produced < 16 * 1024 * 1024, `read ${produced} bytes of content nobody wanted`);
  });

  it("writes whiteouts as plain empty files", async () => {
    const read = await readTar(await tarOf([
      { path: "etc/.wh.motd", type: "file", mode: 0o644 },
      { path: "var/cache/.wh..wh..opq", type: "file", mode: 0o644 },
    ]));
    assert.deepEqual(read.filter((e) => e.type === "file").map((e) => [e.name, e.size]), [
      ["etc/.wh.motd", 0],
      ["var/cache/.wh..wh..opq", 0],
    ]);
  });

  it("writes an empty layer as a valid empty tar", async () => {
    const tar = await tarOf([]);
    assert.equal(tar.length, 1024);
    assert.ok(tar.every((b) => b === 0));
    assert.deepEqual(await readTar(tar), []);
  });

  it("rejects a path listed twice, naming it", () => {
    assert.throws(
      () => tarStream([memoryFile("/etc/passwd", "a"), memoryFile("etc//passwd", "b")]),
      assertLayerError("LAYER_DUPLICATE_PATH", "etc/passwd"),
    );
  });

  it("rejects paths with .., the root itself and NUL", () => {
    assert.throws(() => tarStream([memoryFile("usr/../../etc/passwd", "x")]), assertLayerError("LAYER_INVALID_PATH", "usr/../../etc/passwd"));
    assert.throws(() => tarStream([memoryFile("..", "x")]), assertLayerError("LAYER_INVALID_PATH", '".."'));
    assert.throws(() => tarStream([{ path: "/", type: "dir", mode: 0o755 }]), assertLayerError("LAYER_INVALID_PATH", '"/"'));
    assert.throws(() => tarStream([memoryFile("a\0b", "x")]), assertLayerError("LAYER_INVALID_PATH", "NUL"));
    assert.throws(
      () => tarStream([{ path: "x", type: "hardlink", mode: 0o644, linkTarget: "../x" }]),
      assertLayerError("LAYER_INVALID_PATH", "../x"),
    );
    assert.equal(normaliseEntryPath("./a/./b/"), "a/b");
    assert.equal(normaliseEntryPath("a/..b/.wh..wh..opq"), "a/..b/.wh..wh..opq");
  });

  it("rejects trees that cannot be extracted as written", () => {
    assert.throws(
      () => planEntries([memoryFile("etc", "a file"), memoryFile("etc/passwd", "x")]),
      assertLayerError("LAYER_INVALID_ENTRY", '"etc/passwd" is inside "etc", which is a file'),
    );
    assert.throws(
      () => planEntries([{ path: "lib", type: "symlink", mode: 0o777, linkTarget: "usr/lib" }, memoryFile("lib/x.so", "x")]),
      assertLayerError("LAYER_INVALID_ENTRY", "which is a symlink"),
    );
    assert.throws(
      () => planEntries([{ path: "bin/sh", type: "hardlink", mode: 0o755, linkTarget: "bin/bash" }]),
      assertLayerError("LAYER_INVALID_ENTRY", '"bin/bash", which is not a file in this layer'),
    );
    assert.throws(
      () =>
        planEntries([
          { path: "a", type: "hardlink", mode: 0o644, linkTarget: "b" },
          { path: "b", type: "hardlink", mode: 0o644, linkTarget: "a" },
        ]),
      assertLayerError("LAYER_INVALID_ENTRY", "cycle"),
    );
    assert.throws(
      () => planEntries([{ path: "s", type: "symlink", mode: 0o777 }]),
      assertLayerError("LAYER_INVALID_ENTRY", '"s": a symlink needs a linkTarget'),
    );
    assert.throws(
      () => planEntries([{ path: "f", type: "file", mode: 0o644, open: () => Readable.from([]) }]),
      assertLayerError("LAYER_INVALID_ENTRY", '"f": size is required'),
    );
    assert.throws(
      () => planEntries([{ path: "d", type: "dir", mode: 0o755, size: 3 }]),
      assertLayerError("LAYER_INVALID_ENTRY", '"d": a dir has no content'),
    );
  });

  it("fails the stream, naming the path, when a file's content is shorter or longer than its size", async () => {
    const shorter = tarStream([memoryFile("ok", "fine"), { path: "opt/short", type: "file", mode: 0o644, size: 10, open: () => Readable.from([Buffer.from("1234")]) }]);
    await assert.rejects(collect(shorter), assertLayerError("LAYER_SIZE_MISMATCH", '"opt/short": content has 4 bytes, but its size is 10'));
    const longer = tarStream([{ path: "opt/long", type: "file", mode: 0o644, size: 3, open: () => Readable.from([Buffer.from("12"), Buffer.from("34")]) }]);
    await assert.rejects(collect(longer), assertLayerError("LAYER_SIZE_MISMATCH", '"opt/long": content has more than 3 bytes'));
  });

  it("reads sources from disk, and names the path when a source is missing", async () => {
    const source = join(dir, "source.txt");
    await writeFile(source, "from disk\n");
    const read = await readTar(await tarOf([{ path: "etc/motd", type: "file", mode: 0o644, source }]));
    assert.equal(read.find((e) => e.name === "etc/motd")?.content.toString(), "from disk\n");
    const missing = tarStream([{ path: "etc/gone", type: "file", mode: 0o644, source: join(dir, "nope") }]);
    await assert.rejects(collect(missing), assertLayerError("LAYER_INVALID_ENTRY", '"etc/gone": cannot read content from'));
  });
});
