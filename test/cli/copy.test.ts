// `imagespec copy`, run as a child process: registry -> layout -> registry with every platform,
// one platform, mounts within a registry, credentials from stdin; skopeo confirms the results.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readLayout } from "../../src/oci/index.js";
import { defaultKeychain, Registry } from "../../src/registry/index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeMultiPlatformImage, removeDir, skopeo, tempDir, type RunResult, type TestIndex } from "../support/tools.js";
import { imagespecCli } from "../support/cli.js";

const ENV = { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" };

function imagespec(args: readonly string[], input?: string): Promise<RunResult> {
  return imagespecCli(args, input !== undefined ? { input } : {});
}

const sha256 = (text: string): string => `sha256:${createHash("sha256").update(Buffer.from(text, "utf8")).digest("hex")}`;

/** The digest of what skopeo reads at a location (its raw manifest bytes). */
async function skopeoDigest(reg: TestRegistry | undefined, location: string): Promise<string> {
  const result = await skopeo(["inspect", "--raw", ...(reg ? reg.skopeoArgs("single") : []), location]);
  assert.equal(result.code, 0, result.stderr);
  return sha256(result.stdout);
}

void describe("imagespec copy", () => {
  let plain: TestRegistry;
  let basic: TestRegistry;
  let index: TestIndex;
  let work: string;
  let blobCount: number;

  before(async () => {
    [plain, basic] = await Promise.all([startRegistry({ mode: "plain" }), startRegistry({ mode: "basic" })]);
    index = await makeMultiPlatformImage({ busybox: false, layers: [{ "etc/shared": "shared\n" }] });
    work = await tempDir("imagespec-cli-copy-");
    const registry = new Registry({ keychain: defaultKeychain({ env: ENV }) });
    try {
      await registry.push(`${plain.host}/src/app:v1`, await readLayout(index.dir, { tag: index.tag }));
    } finally {
      await registry.close();
    }
    blobCount = new Set(index.images.flatMap((i) => [i.config.digest, ...i.layers.map((l) => l.digest)])).size;
  });

  after(async () => {
    await Promise.all([plain?.stop(), basic?.stop()]);
    await index?.cleanup();
    if (work) await removeDir(work);
  });

  void it("copies registry -> layout -> registry with every platform, and skopeo reads the results", async () => {
    const layout = `oci:${join(work, "layout")}:app-v1`;
    const down = await imagespec(["copy", `${plain.host}/src/app:v1`, layout]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(down.stdout, `${layout}@${index.index.digest}\n`);
    assert.equal(down.stderr.match(/^blob sha256:[0-9a-f]{12} +\d+(\.\d)? (B|KiB|MiB) written$/gm)?.length, blobCount, down.stderr);
    assert.equal(await skopeoDigest(undefined, layout), index.index.digest);

    // Into the layout again: nothing is written twice.
    const again = await imagespec(["copy", `${plain.host}/src/app:v1`, layout]);
    assert.equal(again.code, 0);
    assert.equal(again.stderr.match(/^blob .* exists$/gm)?.length, blobCount, again.stderr);
    assert.doesNotMatch(again.stderr, / written$/m);

    const up = await imagespec(["copy", layout, `${plain.host}/copied/app:v2`]);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout, `${plain.host}/copied/app:v2@${index.index.digest}\n`);
    assert.equal(up.stderr.match(/^blob sha256:[0-9a-f]{12} +\S+ \S+ uploaded$/gm)?.length, blobCount, up.stderr);
    assert.match(up.stderr, new RegExp(`^manifest ${index.index.digest.slice(0, 19)} pushed$`, "m"));
    assert.equal(await skopeoDigest(plain, `docker://${plain.host}/copied/app:v2`), index.index.digest);
    for (const image of index.images) {
      const arch = image.platform.architecture;
      assert.equal(await skopeoDigest(plain, `docker://${plain.host}/copied/app@${image.manifest.digest}`), image.manifest.digest);
      const result = await skopeo(["inspect", "--override-arch", arch, ...plain.skopeoArgs("single"), `docker://${plain.host}/copied/app:v2`]);
      assert.equal(result.code, 0, result.stderr);
      const inspected = JSON.parse(result.stdout) as { Architecture: string; Layers: string[] };
      assert.deepEqual([inspected.Architecture, inspected.Layers], [arch, image.layers.map((l) => l.digest)]);
    }
  });

  void it("mounts blobs within a registry and reports blobs already there", async () => {
    const mounted = await imagespec(["copy", `${plain.host}/src/app:v1`, `${plain.host}/other/app:v1`]);
    assert.equal(mounted.code, 0, mounted.stderr);
    assert.equal(mounted.stderr.match(/^blob sha256:[0-9a-f]{12} +\S+ \S+ mounted from src\/app$/gm)?.length, blobCount, mounted.stderr);
    const existing = await imagespec(["copy", `${plain.host}/src/app:v1`, `${plain.host}/other/app:v1-again`]);
    assert.equal(existing.stderr.match(/^blob .* exists$/gm)?.length, blobCount, existing.stderr);
    assert.match(existing.stderr, new RegExp(`^manifest ${index.index.digest.slice(0, 19)} pushed$`, "m"));
    assert.equal(await skopeoDigest(plain, `docker://${plain.host}/other/app:v1-again`), index.index.digest);
  });

  void it("--platform copies one image out of an index; --quiet prints only the result", async () => {
    const arm = index.images.find((i) => i.platform.architecture === "arm64")!;
    const result = await imagespec(["copy", "--quiet", "--platform", "linux/arm64", `${plain.host}/src/app:v1`, `${plain.host}/arm/app:v1`]);
    assert.equal(result.code, 0);
    assert.equal(result.stderr, "");
    assert.equal(result.stdout, `${plain.host}/arm/app:v1@${arm.manifest.digest}\n`);
    assert.equal(await skopeoDigest(plain, `docker://${plain.host}/arm/app:v1`), arm.manifest.digest);
  });

  void it("copies to a registry that wants credentials with --password-stdin, and fails cleanly without", async () => {
    const denied = await imagespec(["copy", `${plain.host}/src/app:v1`, `${basic.host}/app:v1`]);
    assert.equal(denied.code, 1);
    assert.equal(denied.stdout, "");
    assert.match(denied.stderr, /^error: .*401 Unauthorized/m);

    const result = await imagespec(["copy", "--username", basic.username!, "--password-stdin", `${plain.host}/src/app:v1`, `${basic.host}/app:v1`], `${basic.password!}\n`);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${basic.host}/app:v1@${index.index.digest}\n`);
    assert.ok(!result.stderr.includes(basic.password!));
    assert.equal(await skopeoDigest(basic, `docker://${basic.host}/app:v1`), index.index.digest);
  });

  void it("exits 2 for a malformed destination and 1 for a source that is not there", async () => {
    const bad = await imagespec(["copy", `${plain.host}/src/app:v1`, "Bad/Name"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: invalid image reference "Bad\/Name"/m);
    const missing = await imagespec(["copy", `${plain.host}/src/app:nope`, `oci:${join(work, "never")}:x`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /MANIFEST_UNKNOWN/);
    await assert.rejects(readFile(join(work, "never", "index.json")));
  });
});
