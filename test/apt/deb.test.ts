import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { readArMembers, readDebControl, unpackDeb, blobPath } from "../../src/apt/deb.js";
import { AptError } from "../../src/apt/errors.js";
import { buildDeb, removeWork, tempWork } from "./helpers.js";

describe(".deb reader", () => {
  let work: string;
  before(async () => {
    work = await tempWork("imagespec-apt-deb-");
  });
  after(async () => removeWork(work));

  for (const compression of ["xz", "gzip", "zstd", "none"] as const) {
    it(`reads the ar members, the control files and the data (${compression})`, async () => {
      const deb = await buildDeb(join(work), {
        name: `pkg-${compression}`,
        compression,
        files: { "usr/bin/tool": "#!/bin/sh\necho tool\n", "usr/bin/alias": { link: "tool" }, "etc/tool.conf": "x=1\n", "usr/share/empty/": "" },
        conffiles: ["/etc/tool.conf"],
        postinst: "#!/bin/sh\nset -e\n",
      });
      const members = await readArMembers(deb);
      assert.equal(members[0]!.name, "debian-binary");
      assert.match(members[1]!.name, /^control\.tar/);
      const ext = { xz: ".xz", gzip: ".gz", zstd: ".zst", none: "" }[compression];
      assert.equal(members[2]!.name, `data.tar${ext}`);

      const control = await readDebControl(deb);
      assert.match(control.get("control")!.toString(), new RegExp(`^Package: pkg-${compression}\n`));
      assert.equal(control.get("conffiles")!.toString(), "/etc/tool.conf\n");
      assert.ok(control.has("postinst"));

      const sha = createHash("sha256").update(await readFile(deb)).digest("hex");
      const cache = join(work, `cache-${compression}`);
      const unpacked = await unpackDeb(deb, sha, cache);
      const byPath = new Map(unpacked.entries.map((e) => [e.path, e]));
      assert.deepEqual(
        [...byPath.keys()].sort(),
        ["etc", "etc/tool.conf", "usr", "usr/bin", "usr/bin/alias", "usr/bin/tool", "usr/share", "usr/share/empty"],
      );
      const tool = byPath.get("usr/bin/tool")!;
      assert.equal(tool.type, "file");
      assert.equal(tool.size, Buffer.byteLength("#!/bin/sh\necho tool\n"));
      assert.equal(tool.md5, createHash("md5").update("#!/bin/sh\necho tool\n").digest("hex"));
      assert.equal(await readFile(blobPath(unpacked, tool), "utf8"), "#!/bin/sh\necho tool\n");
      assert.deepEqual([byPath.get("usr/bin/alias")!.type, byPath.get("usr/bin/alias")!.linkTarget], ["symlink", "tool"]);
      assert.equal(byPath.get("usr/share/empty")!.type, "dir");
      // Unpacked once: the second call reads the manifest.
      const again = await unpackDeb(deb, sha, cache);
      assert.deepEqual(again.entries, unpacked.entries);
    });
  }

  for (const compression of ["xz", "gzip", "zstd"] as const) {
    it(`reports damaged ${compression} data as a decompression error and leaves nothing in the cache`, async () => {
      const deb = await buildDeb(work, { name: `damaged-${compression}`, compression, files: { "usr/share/big": "x".repeat(200_000) } });
      const data = (await readArMembers(deb)).find((m) => m.name.startsWith("data.tar"))!;
      const bytes = await readFile(deb);
      for (let i = data.offset + 40; i < data.offset + 60; i++) bytes[i] = bytes[i]! ^ 0xff;
      await writeFile(deb, bytes);
      const cache = join(work, `cache-damaged-${compression}`);
      await assert.rejects(unpackDeb(deb, "f".repeat(64), cache), (e: unknown) => e instanceof AptError && e.code === "APT_DECOMPRESS" && e.message.includes(`damaged-${compression}.deb data.tar`));
      assert.deepEqual(await readdir(join(cache, "apt", "unpacked")), []);
    });
  }

  it("refuses a file that is not an ar archive, and a truncated one", async () => {
    const bogus = join(work, "bogus.deb");
    await writeFile(bogus, "PK\u0003\u0004 not a deb");
    await assert.rejects(readArMembers(bogus), (e: unknown) => e instanceof AptError && e.code === "APT_BAD_DEB" && /not an ar archive/.test(e.message));
    const deb = await buildDeb(work, { name: "whole", files: { "usr/bin/x": "x" } });
    const truncated = join(work, "truncated.deb");
    await writeFile(truncated, (await readFile(deb)).subarray(0, 200));
    await assert.rejects(readArMembers(truncated), (e: unknown) => e instanceof AptError && e.code === "APT_BAD_DEB" && /runs past the end/.test(e.message));
  });
});
