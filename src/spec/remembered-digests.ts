// Digests of big files remembered between processes, in a folder of the build cache: a build whose
// image is already in the registry then learns its tag without reading a 2 GiB model file again.
//
// A record holds while the file's stat stamp (device, inode, size, mtime and ctime in ns) is the one
// it was made with. Writing a file moves its ctime, and no tool sets ctime back (cp -p, rsync -t and
// tar x restore mtimes only). But file times come from a coarse clock, so a write within the same
// tick as the read could leave the stamp unchanged: a file is only remembered once it has been left
// alone for a while before it was read (the race git's index guards against the same way).
import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { join, resolve } from "node:path";
import { readJsonRecord, writeJsonRecord } from "../json-record.js";
import { isDigest } from "../oci/digest.js";

/** Smaller files are read again: hashing them costs little more than a record's lookup and write. */
export const REMEMBERED_MIN_BYTES = 4 << 20;
/** A file changed less than this long before it was read is not remembered. */
export const SETTLE_MS = 2000;

/** How file digests are made: where big files' digests are remembered between processes. */
export interface FileHashing {
  /** A folder (the build cache's `digests/`); default: remembered in this process only. */
  readonly rememberIn?: string;
  /** Only for tests: how long a file must be left alone before it is remembered (default SETTLE_MS). */
  readonly settleMs?: number;
}

interface DigestRecord {
  path: string;
  stamp: string;
  digest: string;
}

/** The file's stamp: what any write to it changes. */
export function statStamp(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

function recordPath(folder: string, path: string): string {
  return join(folder, `${createHash("sha256").update(resolve(path)).digest("hex")}.json`);
}

/** The remembered digest of the file at `path`, if one was recorded with the stamp it has now. */
export async function rememberedDigest(hashing: FileHashing | undefined, path: string, info: BigIntStats): Promise<string | undefined> {
  if (hashing?.rememberIn === undefined || info.size < REMEMBERED_MIN_BYTES) return undefined;
  const record = (await readJsonRecord(recordPath(hashing.rememberIn, path))) as Partial<DigestRecord> | undefined;
  if (record?.path !== resolve(path) || record.stamp !== statStamp(info)) return undefined;
  return typeof record.digest === "string" && isDigest(record.digest) ? record.digest : undefined;
}

/**
 * Remembers `digest`, read from the file starting at `readStartedMs` (wall clock), as the digest of
 * the file with stamp `info`, unless the file is small or was changed too shortly before the read.
 * A record that cannot be written is no reason to fail a build: the file is read again next time.
 */
export async function rememberDigest(hashing: FileHashing | undefined, path: string, info: BigIntStats, digest: string, readStartedMs: number): Promise<void> {
  if (hashing?.rememberIn === undefined || info.size < REMEMBERED_MIN_BYTES) return;
  const changedNs = info.ctimeNs > info.mtimeNs ? info.ctimeNs : info.mtimeNs;
  if (BigInt(Math.floor(readStartedMs)) * 1_000_000n - changedNs < BigInt(hashing.settleMs ?? SETTLE_MS) * 1_000_000n) return;
  const record: DigestRecord = { path: resolve(path), stamp: statStamp(info), digest };
  await writeJsonRecord(recordPath(hashing.rememberIn, path), record).catch(() => undefined);
}
