// Where reusable build data lives. Its small JSON records are written by ../json-record.ts.
import { homedir } from "node:os";
import { join } from "node:path";
import type { FileHashing } from "../spec/index.js";

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "imagespec");
}

/** `sha256:<hex>` -> `<hex>`: cache file names. */
export function digestHex(digest: string): string {
  return digest.replace(/^sha256:/, "");
}

/** How tags hash files for builds that use `cacheDir`: big files' digests are remembered in its digests/. */
export function fileHashingIn(cacheDir: string): FileHashing {
  return { rememberIn: join(cacheDir, "digests") };
}
