// `imagespec cache prune`: entries unused for longer than --older-than go, recent ones stay, the
// Dockerfile builders' storage is never touched; --dry-run removes nothing; --all empties it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { imagespecCli } from "../support/cli.js";
import { removeDir, tempDir } from "../support/tools.js";

describe("imagespec cache prune", () => {
  let dir: string;
  let cache: string;
  const cli = (args: string[]) => imagespecCli(["cache", "prune", "--cache-dir", cache, ...args], { cwd: dir });
  const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);

  async function put(path: string, bytes: number, ageDays: number): Promise<void> {
    const full = join(cache, path);
    await mkdir(join(full, ".."), { recursive: true });
    await writeFile(full, Buffer.alloc(bytes, 1));
    await utimes(full, daysAgo(ageDays), daysAgo(ageDays));
  }

  /** Ages the folders of an entry too, as if made long ago (a folder's own times count as use). */
  async function age(path: string, ageDays: number): Promise<void> {
    const parts = path.split("/");
    for (let i = parts.length; i > 0; i--) await utimes(join(cache, ...parts.slice(0, i)), daysAgo(ageDays), daysAgo(ageDays));
  }

  before(async () => {
    dir = await tempDir();
    cache = join(dir, "cache");
    await put("layers/sha256-old", 1000, 40);
    await put("layers/sha256-new", 2000, 1);
    await put("wheels/sha256/oldwheel", 3000, 10);
    await put("apt/unpacked/olddeb/usr/bin/tool", 500, 20);
    await put("steps/recent.json", 10, 0);
    await put("buildah/root/overlay/old-layer", 4000, 400);
    // A folder entry whose content was used recently counts as used.
    await put("apt/unpacked/mixed/a", 100, 30);
    await put("apt/unpacked/mixed/b", 100, 2);
    await age("apt/unpacked/olddeb/usr/bin", 20);
    await age("apt/unpacked/mixed", 30);
  });
  after(async () => {
    await removeDir(dir);
  });

  it("--dry-run says what would go and removes nothing", async () => {
    const r = await cli(["--older-than", "7d", "--dry-run", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { removed: number; removedBytes: number; kept: number; dryRun: boolean };
    assert.deepEqual({ removed: out.removed, removedBytes: out.removedBytes, kept: out.kept, dryRun: out.dryRun }, { removed: 3, removedBytes: 4500, kept: 3, dryRun: true });
    assert.deepEqual((await readdir(join(cache, "layers"))).sort(), ["sha256-new", "sha256-old"]);
  });

  it("removes what was not used for longer than --older-than, keeps the rest and the builders' storage", async () => {
    const r = await cli(["--older-than", "7d"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /removed 3 entries, 4\.4 KiB; kept 3/);
    assert.deepEqual(await readdir(join(cache, "layers")), ["sha256-new"]);
    assert.deepEqual(await readdir(join(cache, "wheels", "sha256")), []);
    assert.deepEqual(await readdir(join(cache, "apt", "unpacked")), ["mixed"]);
    assert.deepEqual(await readdir(join(cache, "buildah", "root", "overlay")), ["old-layer"]);
  });

  it("--all empties every area but the builders' storage; a bad age is a usage error", async () => {
    const bad = await cli(["--older-than", "a week"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--older-than "a week" is not an age/);
    const r = await cli(["--all"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /removed 3 entries/);
    for (const area of ["layers", "steps", "apt/unpacked"]) assert.deepEqual(await readdir(join(cache, area)), [], area);
    assert.deepEqual(await readdir(join(cache, "buildah", "root", "overlay")), ["old-layer"]);
  });
});
