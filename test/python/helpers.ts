// Helpers shared by the Python tests (not a test file itself).
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, mkdir, readFile, readdir, stat, symlink } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { pipeline } from "node:stream/promises";
import type { LayerEntry } from "../../src/layer/entries.js";

/** Writes entries under `root` (image path `/a/b` -> `<root>/a/b`) the way a layer would extract. */
export async function extractEntries(root: string, entries: readonly LayerEntry[]): Promise<void> {
  for (const entry of entries) {
    const path = join(root, entry.path);
    await mkdir(dirname(path), { recursive: true });
    if (entry.type === "symlink") {
      await symlink(entry.linkTarget!, path);
      continue;
    }
    if (entry.type === "dir") {
      await mkdir(path, { recursive: true });
      await chmod(path, entry.mode);
      continue;
    }
    if (!entry.open) throw new Error(`${entry.path}: test extraction expects open()`);
    await pipeline(await entry.open(), createWriteStream(path));
    await chmod(path, entry.mode);
    const written = (await stat(path)).size;
    if (written !== entry.size) throw new Error(`${entry.path}: declared ${entry.size} bytes, wrote ${written}`);
  }
}

/** Reads every entry's content through open(), as the layer writer would. */
export async function readEntry(entry: LayerEntry): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await entry.open!()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function sha256File(path: string): Promise<string> {
  return createHash("sha256").update(await readFile(path)).digest("hex");
}

/** Every regular file under `root`, as paths relative to it. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const item of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, item.name);
      if (item.isDirectory()) await walk(path);
      else out.push(relative(root, path));
    }
  };
  await walk(root);
  return out.sort();
}
