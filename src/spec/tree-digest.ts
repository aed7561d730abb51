// The digest of a file tree as it lands in the image: destination path, type, normalised mode and
// content (a symlink by its target). Host paths, mtimes, owners and walk order are not in it, so a
// checkout anywhere gives the same digest.
import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { open, stat } from "node:fs/promises";
import { mapLimited } from "../concurrency.js";
import { canonicalJson, type JsonValue } from "./canonical-json.js";
import type { FileEntry } from "./files.js";
import { rememberDigest, rememberedDigest, statStamp, type FileHashing } from "./remembered-digests.js";

/** Files hashed at once: enough to keep a disk busy, few enough not to run out of descriptors. */
const PARALLEL_READS = 8;

/** `sha256:<hex>` of the canonical JSON list of entry records (see docs/tag-algorithm.md). */
export async function treeDigest(entries: readonly FileEntry[], hashing?: FileHashing): Promise<string> {
  const records = await mapLimited(entries, PARALLEL_READS, (entry) => entryRecord(entry, hashing));
  return `sha256:${createHash("sha256").update(canonicalJson(records)).digest("hex")}`;
}

async function entryRecord(entry: FileEntry, hashing: FileHashing | undefined): Promise<JsonValue> {
  const record: Record<string, JsonValue> = { path: entry.path, type: entry.type, mode: entry.mode.toString(8).padStart(4, "0") };
  if (entry.type === "file") record.digest = await fileDigest(entry.source, hashing);
  if (entry.type === "symlink") record.target = entry.linkTarget ?? "";
  return record;
}

/**
 * Digests learnt in this process, by path and the stat fields a write changes. One build hashes
 * the source tree twice (the tag, then the files layer's cache key); for a 1 GiB file the second
 * read is a second of work that can only give the same answer.
 */
const digests = new Map<string, Known>();
/** A long-lived process (a library session) hashes many trees: the memo starts over past this many files. */
const MAX_REMEMBERED_DIGESTS = 50_000;

interface Known {
  readonly stamp: string;
  readonly learnt: Promise<Learnt>;
  /** Folders the digest is recorded in (or was looked up from). */
  readonly recordedIn: Set<string>;
}

interface Learnt {
  readonly digest: string;
  /** When this process started reading the file; absent when the digest came from a record. */
  readonly readStartedMs?: number;
}

/**
 * `sha256:<hex>` of a file's content, streamed so large files use little memory; for a big file,
 * the digest remembered between processes when `hashing` names where (remembered-digests.ts).
 */
export async function fileDigest(path: string, hashing?: FileHashing): Promise<string> {
  const info = await stat(path, { bigint: true });
  const stamp = statStamp(info);
  const folder = hashing?.rememberIn;
  const known = digests.get(path);
  if (known !== undefined && known.stamp === stamp) {
    const { digest, readStartedMs } = await known.learnt;
    // Learnt earlier without this folder (an image name asked for before the build): record it now.
    if (folder !== undefined && !known.recordedIn.has(folder) && readStartedMs !== undefined) {
      known.recordedIn.add(folder);
      await rememberDigest(hashing, path, info, digest, readStartedMs);
    }
    return digest;
  }
  const learnt = rememberedOrRead(path, info, hashing);
  if (digests.size >= MAX_REMEMBERED_DIGESTS) digests.clear();
  digests.set(path, { stamp, learnt, recordedIn: new Set(folder !== undefined ? [folder] : []) });
  learnt.catch(() => {
    if (digests.get(path)?.learnt === learnt) digests.delete(path);
  });
  return (await learnt).digest;
}

async function rememberedOrRead(path: string, info: BigIntStats, hashing: FileHashing | undefined): Promise<Learnt> {
  const remembered = await rememberedDigest(hashing, path, info);
  if (remembered !== undefined) return { digest: remembered };
  const readStartedMs = Date.now();
  const digest = await readDigest(path, Number(info.size));
  await rememberDigest(hashing, path, info, digest, readStartedMs);
  return { digest, readStartedMs };
}

/** Bytes read at once: big enough to make calls cheap, small enough for eight files at a time. */
const READ_BYTES = 1 << 20;
/**
 * Reads of one file in flight while the oldest is hashed. A file not in the page cache comes off a
 * disk (or a VM's host) that serves several reads at once far faster than one after another: on
 * this project's 2-core VM, 1 GiB read cold took 1.1-1.4 s with one read ahead and 0.75 s with more.
 */
const READS_AHEAD = 4;

/**
 * A few buffers per file, read into again and again. A fresh buffer per read would hand V8 1 GiB of
 * new memory for a 1 GiB file, and with it a full garbage collection every 64 MB or so.
 */
async function readDigest(path: string, size: number): Promise<string> {
  const hash = createHash("sha256");
  const file = await open(path, "r");
  // Reads issued and not yet hashed, oldest first; each holds its own buffer until it is hashed.
  let pending: Promise<{ bytesRead: number; buffer: Buffer }>[] = [];
  try {
    // At least 64 KiB: a file that grows after its stat is still read in fair pieces.
    const length = Math.min(READ_BYTES, Math.max(64 << 10, size));
    const ahead = Math.max(1, Math.min(READS_AHEAD, Math.ceil(size / length)));
    const spare: Buffer[] = [];
    let position = 0;
    const issue = (): void => {
      pending.push(file.read(spare.pop() ?? Buffer.allocUnsafeSlow(length), 0, length, position));
      position += length;
    };
    for (let i = 0; i <= ahead; i++) issue();
    for (;;) {
      const { bytesRead, buffer } = await pending.shift()!;
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      spare.push(buffer);
      if (bytesRead < length) {
        // The end of the file as it was then. Reads issued past it are dropped and the file is
        // read on from there, one read at a time, until a read finds nothing: a file that grows
        // while it is read is hashed as far as it got, as a plain read loop would.
        const after = position - (pending.length + 1) * length + bytesRead;
        for (const { buffer: unused } of await Promise.all(pending)) spare.push(unused);
        pending = [];
        position = after;
      }
      issue();
    }
  } finally {
    // Reads still in flight (an error above) finish before the file is closed.
    await Promise.allSettled(pending);
    await file.close();
  }
  return `sha256:${hash.digest("hex")}`;
}
