// Where reusable build data lives, and how small JSON records are written there: to a temp name
// and renamed, so a reader (another build on the same machine) never sees half a file.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "imagespec");
}

/** The parsed JSON at `path`; undefined when it is absent or not JSON (a cache miss, never an error). */
export async function readJsonRecord(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as unknown;
  } catch {
    return undefined;
  }
}

export async function writeJsonRecord(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(value)}\n`);
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
}

/** `sha256:<hex>` -> `<hex>`: cache file names. */
export function digestHex(digest: string): string {
  return digest.replace(/^sha256:/, "");
}
