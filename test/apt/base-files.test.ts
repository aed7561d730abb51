import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { pack } from "tar-stream";
import { baseFile, mergeLayerFiles, readLayerFiles } from "../../src/apt/base-files.js";

type Item = { name: string; type?: "file" | "directory" | "symlink"; content?: string; linkname?: string };

async function tarOf(items: Item[]): Promise<Readable> {
  const p = pack();
  for (const item of items) {
    const type = item.type ?? "file";
    if (type === "file") p.entry({ name: item.name, type, mode: 0o644 }, item.content ?? "");
    else p.entry({ name: item.name, type, mode: 0o755, ...(item.linkname !== undefined ? { linkname: item.linkname } : {}) });
  }
  p.finalize();
  return Readable.from(p);
}

describe("base image files for apt", () => {
  it("keeps the wanted files and every symlink, and applies whiteouts and opaque directories layer by layer", async () => {
    const lower = await readLayerFiles(
      await tarOf([
        { name: "./bin", type: "symlink", linkname: "usr/bin" },
        { name: "./etc/os-release", type: "symlink", linkname: "../usr/lib/os-release" },
        { name: "./usr/lib/os-release", content: "ID=debian\n" },
        { name: "./etc/apt/sources.list", content: "deb http://deb.debian.org/debian bookworm main\n" },
        { name: "./etc/apt/sources.list.d/old.list", content: "deb http://old.example/ x main\n" },
        { name: "./etc/apt/trusted.gpg.d/", type: "directory" },
        { name: "./etc/apt/trusted.gpg.d/a.asc", content: "key a" },
        { name: "./var/lib/dpkg/status", content: "Package: a\n" },
        { name: "./usr/bin/python3", content: "not wanted" },
      ]),
    );
    assert.deepEqual(lower.files.map(([p]) => p).sort(), ["/etc/apt/sources.list", "/etc/apt/sources.list.d/old.list", "/etc/apt/trusted.gpg.d/a.asc", "/usr/lib/os-release", "/var/lib/dpkg/status"]);
    const upper = await readLayerFiles(
      await tarOf([
        { name: "etc/apt/sources.list.d/.wh.old.list" },
        { name: "etc/apt/trusted.gpg.d/.wh..wh..opq" },
        { name: "etc/apt/trusted.gpg.d/b.asc", content: "key b" },
        { name: "var/lib/dpkg/status", content: "Package: a\n\nPackage: b\n" },
      ]),
    );
    const merged = mergeLayerFiles([lower, upper]);
    assert.deepEqual([...merged.files.keys()].sort(), ["/etc/apt/sources.list", "/etc/apt/trusted.gpg.d/b.asc", "/usr/lib/os-release", "/var/lib/dpkg/status"]);
    assert.equal(merged.files.get("/var/lib/dpkg/status")!.toString(), "Package: a\n\nPackage: b\n");
    assert.equal(merged.symlinks.get("/bin"), "usr/bin");
    assert.equal(baseFile(merged, "/etc/os-release")?.toString(), "ID=debian\n");
  });
});
