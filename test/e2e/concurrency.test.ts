// Builds at once into one OCI layout and one cache dir, through the real CLI: one run of eight
// specs, two runs and four runs side by side (the same specs and different ones). Afterwards
// index.json names every image, each image is whole (every blob read back and its digest checked),
// skopeo reads every tag, and no lock or temp file is left behind.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { listLayoutTags, readLayoutImage } from "../../src/oci/layout.js";
import { sha256, type Blob } from "../../src/oci/index.js";
import { imagespecCli } from "../support/cli.js";
import { removeDir, skopeo, tempDir } from "../support/tools.js";

async function drain(blob: Blob): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await blob.open()) chunks.push(chunk as Buffer);
  return sha256(Buffer.concat(chunks));
}

/** Every tag the layout names, each read back in full with its blobs' digests checked. */
async function checkLayout(layout: string, expected: readonly string[]): Promise<void> {
  const tags = await listLayoutTags(layout);
  assert.deepEqual([...tags].sort(), [...new Set(expected)].sort(), "index.json names every image, once");
  for (const tag of tags) {
    const image = await readLayoutImage(layout, { tag });
    for (const blob of [image.config, ...image.layers]) assert.equal(await drain(blob), blob.descriptor.digest);
    const inspected = await skopeo(["inspect", "--raw", `oci:${layout}:${tag}`]);
    assert.equal(inspected.code, 0, inspected.stderr);
  }
  const leftovers = (await readdir(layout)).filter((f) => f !== "blobs" && f !== "index.json" && f !== "oci-layout");
  assert.deepEqual(leftovers, [], "no lock or temp file is left in the layout");
  const blobLeftovers = (await readdir(join(layout, "blobs", "sha256"))).filter((f) => !/^[a-f0-9]{64}$/.test(f));
  assert.deepEqual(blobLeftovers, [], "no temp blob is left");
}

/** The names a build printed (stdout: NAME:TAG@DIGEST), as the layout names them. */
function builtNames(stdout: string): string[] {
  return stdout.trim().split("\n").filter((l) => l !== "").map((l) => l.replace(/@sha256:.*$/, ""));
}

describe("concurrent builds into one layout and one cache", () => {
  let dir: string;
  const cli = (args: string[]) => imagespecCli(args, { cwd: dir, timeoutMs: 240_000 });

  before(async () => {
    dir = await tempDir();
    await mkdir(join(dir, "src"));
    await writeFile(join(dir, "src", "main.py"), "print('shared source')\n");
    // Eight specs: the same files layer (shared in the cache), a different env each.
    for (let i = 1; i <= 8; i++) {
      await writeFile(join(dir, `s${i}.yaml`), [`name: app${i}`, "base_image: scratch", "source_root: src", `env: {N: "${i}"}`, ""].join("\n"));
    }
  });
  after(async () => {
    await removeDir(dir);
  });

  it("one build of eight specs keeps all eight in index.json", async () => {
    const r = await cli(["build", "-q", "--cache-dir", "cache", "-o", "oci:one", "s*.yaml"]);
    assert.equal(r.code, 0, r.stderr);
    const names = builtNames(r.stdout);
    assert.equal(names.length, 8);
    await checkLayout(join(dir, "one"), names);
  });

  it("two builds at once, of different specs and of the same specs, share the layout and the cache", async () => {
    const different = await Promise.all([
      cli(["build", "-q", "--cache-dir", "cache2", "-o", "oci:two", "s1.yaml", "s2.yaml", "s3.yaml", "s4.yaml"]),
      cli(["build", "-q", "--cache-dir", "cache2", "-o", "oci:two", "s5.yaml", "s6.yaml", "s7.yaml", "s8.yaml"]),
    ]);
    for (const r of different) assert.equal(r.code, 0, r.stderr);
    await checkLayout(join(dir, "two"), different.flatMap((r) => builtNames(r.stdout)));

    const same = await Promise.all([1, 2].map(() => cli(["build", "-q", "--cache-dir", "cache3", "-o", "oci:same2", "s*.yaml"])));
    for (const r of same) assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(builtNames(same[0]!.stdout).sort(), builtNames(same[1]!.stdout).sort(), "the same specs give the same names");
    await checkLayout(join(dir, "same2"), same.flatMap((r) => builtNames(r.stdout)));
  });

  it("a build after one killed while it held the layout lock: the lock is taken over, nothing to clean by hand", async () => {
    const layout = join(dir, "killed");
    const first = await cli(["build", "-q", "--cache-dir", "cache5", "-o", "oci:killed", "s1.yaml"]);
    assert.equal(first.code, 0, first.stderr);
    // A process takes the layout's lock the way a build does, and is SIGKILLed while holding it.
    const script = `const { withFileLock } = await import(${JSON.stringify(new URL("../../src/oci/file-lock.ts", import.meta.url).href)});
await withFileLock(${JSON.stringify(join(layout, "index.json.lock"))}, async () => { process.stdout.write("locked\\n"); await new Promise(() => setInterval(() => {}, 1000)); });`;
    const holder = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    holder.kill("SIGKILL");
    await exited;
    assert.ok((await readdir(layout)).includes("index.json.lock"), "the killed process left its lock");
    const next = await cli(["build", "-q", "--cache-dir", "cache5", "-o", "oci:killed", "s2.yaml"]);
    assert.equal(next.code, 0, next.stderr);
    await checkLayout(layout, [...builtNames(first.stdout), ...builtNames(next.stdout)]);
  });

  it("four builds at once: two of the same specs, two of different ones, one layout, one cache", async () => {
    const runs = await Promise.all([
      cli(["build", "-q", "--cache-dir", "cache4", "-o", "oci:four", "s1.yaml", "s2.yaml"]),
      cli(["build", "-q", "--cache-dir", "cache4", "-o", "oci:four", "s1.yaml", "s2.yaml"]),
      cli(["build", "-q", "--cache-dir", "cache4", "-o", "oci:four", "s3.yaml", "s4.yaml", "s5.yaml"]),
      cli(["build", "-q", "--cache-dir", "cache4", "-o", "oci:four", "s6.yaml", "s7.yaml", "s8.yaml"]),
    ]);
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    await checkLayout(join(dir, "four"), runs.flatMap((r) => builtNames(r.stdout)));
    // The shared cache is whole too: a fifth run builds all eight from it without finding a damaged entry.
    const again = await cli(["build", "--cache-dir", "cache4", "-o", "oci:four-again", "s*.yaml"]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /damaged/);
    await checkLayout(join(dir, "four-again"), builtNames(runs.map((r) => r.stdout).join("\n")));
  });
});
