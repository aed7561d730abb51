// A damaged local step cache heals itself: a cached layer whose bytes no longer match its digest
// (flipped or truncated) is dropped with a warning and built again, through the real CLI; the
// image is the same as before the damage and the cache holds a good file afterwards.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileDigest } from "../../src/spec/index.js";
import { readLayoutImage } from "../../src/oci/layout.js";
import { imagespecCli } from "../support/cli.js";
import { removeDir, tempDir } from "../support/tools.js";

describe("a damaged local step cache", () => {
  let dir: string;
  const cli = (args: string[]) => imagespecCli(args, { cwd: dir });

  before(async () => {
    dir = await tempDir();
    await mkdir(join(dir, "src"));
    await writeFile(join(dir, "src", "main.py"), "print('hello from the cache test')\n".repeat(200));
    await writeFile(join(dir, "spec.yaml"), ["name: healed", "base_image: scratch", "source_root: src", ""].join("\n"));
  });
  after(async () => {
    await removeDir(dir);
  });

  async function layerFiles(): Promise<string[]> {
    return (await readdir(join(dir, "cache", "layers"))).filter((f) => f.startsWith("sha256-")).map((f) => join(dir, "cache", "layers", f));
  }

  it("drops a cached layer with flipped or missing bytes, warns on stderr, rebuilds the same layer and leaves a good file", async () => {
    const first = await cli(["build", "--cache-dir", "cache", "-o", "oci:out0", "spec.yaml"]);
    assert.equal(first.code, 0, first.stderr);
    // stdout: NAME:TAG@DIGEST; the layout names the image NAME:TAG.
    const image = first.stdout.trim().split("\n").at(-1)!.replace(/@sha256:.*$/, "");
    const tag = image.slice(image.lastIndexOf(":") + 1);
    const built = await readLayoutImage(join(dir, "out0"), { tag: image });
    const layerDigest = built.manifest.layers[0]!.digest;
    const [cached] = await layerFiles();
    assert.ok(cached?.endsWith(layerDigest.slice("sha256:".length)), `the files layer is cached (${cached})`);

    const damages: [string, (path: string) => Promise<void>][] = [
      ["a flipped byte", async (path) => {
        const bytes = await readFile(path);
        const middle = bytes.length >> 1;
        bytes[middle] = bytes[middle]! ^ 0xff;
        await writeFile(path, bytes);
      }],
      ["a truncated file", (path) => truncate(path, 10)],
    ];
    for (const [n, [what, damage]] of damages.entries()) {
      await damage(cached!);
      assert.notEqual(await fileDigest(cached!), layerDigest, `${what}: the cache is damaged`);
      const again = await cli(["build", "--cache-dir", "cache", "-o", `oci:out${n + 1}`, "spec.yaml"]);
      assert.equal(again.code, 0, `${what}: the build heals instead of failing\n${again.stderr}`);
      assert.match(again.stderr, /warning: .*damaged; removed it, building the layer again/, what);
      assert.ok(again.stdout.includes(tag), again.stdout);
      const rebuilt = await readLayoutImage(join(dir, `out${n + 1}`), { tag: image });
      assert.equal(rebuilt.manifest.layers[0]!.digest, layerDigest, `${what}: the same layer as before the damage`);
      assert.equal(await fileDigest(cached!), layerDigest, `${what}: the cache file is good again`);
    }

    // A healthy cache is used without a warning.
    const clean = await cli(["build", "--cache-dir", "cache", "-o", "oci:out9", "spec.yaml"]);
    assert.equal(clean.code, 0, clean.stderr);
    assert.doesNotMatch(clean.stderr, /damaged/);
  });
});
