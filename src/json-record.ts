// Small JSON records in a cache folder, written to a temp name and renamed, so a reader (another
// build on the same machine) never sees half a file; a record that is absent or not JSON reads as
// a miss, never an error.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

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
