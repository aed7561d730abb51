// Compressing a layer tar into a cache file in one pass, learning on the way the diffID
// (sha256 of the tar), the blob digest (sha256 of the compressed bytes) and both sizes.
//
// Which implementation compresses is a matter of identity, not just speed: gzip from zlib,
// from pigz and from zlib on a worker pool are all valid gzip but differ byte for byte, and
// the blob digest is what registries deduplicate and manifests pin. So the default never
// depends on what happens to be installed:
//   - gzip: the worker-pool implementation on node's bundled zlib (parallel-gzip.ts). It is
//     always present and uses every core; its bytes depend only on the input, the level, the
//     block size, the incompressible-block test and node's zlib build, never on the core count
//     or on PATH. pigz (faster, and
//     slightly smaller output) is an explicit choice: `gzip: "pigz"`.
//   - zstd: the zstd program (multi-threaded; its output does not depend on the thread count).
//     node's zlib zstd is an explicit choice: `zstd: "node"`.
// `Compressor.id` names everything that decides the bytes (implementation, its version, level,
// block size); anything that caches layers by key must include it.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rename, rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { PassThrough, type Duplex, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import * as zlib from "node:zlib";
import { DigestingStream, MediaType, type Descriptor, type Digest } from "../oci/index.js";
import { LayerError } from "./errors.js";
import { INCOMPRESSIBLE_TEST } from "./gzip-workers.js";
import { COMPRESSION_LEVELS } from "./levels.js";
import { DEFAULT_GZIP_BLOCK_SIZE, ParallelGzip } from "./parallel-gzip.js";
import type { ChunkPool } from "./chunk-pool.js";
import { GrowingFile } from "./growing-file.js";
import { findExecutable, ProcessStream } from "./process-stream.js";

/** Names the incompressible-block test in the compressor id, so changing it changes the id. */
const { samples, sampleBytes, minBlock, storedRatio, firstRatio } = INCOMPRESSIBLE_TEST;
const INCOMPRESSIBLE_ID = `store-${samples}x${sampleBytes}-min${minBlock}-${storedRatio}-first${firstRatio}`;

export type Compression = "gzip" | "zstd" | "none";
export type GzipImplementation = "node" | "pigz";
export type ZstdImplementation = "cli" | "node";

export interface CompressionOptions {
  /** Default "gzip". */
  compression?: Compression;
  /** gzip 0-9 (default 1: levels.ts), zstd 1-19 (default 3). */
  level?: number;
  /** Default "node" (worker threads); "pigz" requires pigz on PATH. */
  gzip?: GzipImplementation;
  /** Default "cli" (zstd on PATH); "node" requires node's zlib zstd. */
  zstd?: ZstdImplementation;
  /** Cores to use. Never changes the output bytes. Default: all available. */
  threads?: number;
}

export interface Compressor {
  readonly compression: Compression;
  readonly mediaType: string;
  /** Everything that determines the output bytes, e.g. `gzip/node-zlib-1.3.1/level-1/block-1048576/store-8x2048-min131072-0.98-first0.9`. */
  readonly id: string;
  /**
   * A fresh stream that compresses what is written to it; `recycle` is told of input chunks it has
   * copied, if it copies them; `reuseMembers`: its reader hands chunks back (ParallelGzip.giveBack).
   */
  create(options?: { recycle?: (chunk: Buffer) => void; reuseMembers?: boolean }): Duplex;
}

export interface CompressedBlob {
  /** The cache file holding the compressed bytes, named after their digest. */
  readonly path: string;
  readonly descriptor: Descriptor;
  /** sha256 of the uncompressed tar: the image config's rootfs.diff_ids entry. */
  readonly diffId: Digest;
  readonly uncompressedSize: number;
  /** The Compressor.id that produced the file. */
  readonly compressor: string;
}

/**
 * A compressed blob while it is being written: its bytes from the start as they land in the cache
 * file, and its descriptor once complete. Lets an upload overlap the compression.
 */
export interface GrowingBlob {
  /**
   * The compressed bytes from the start, following the file as it grows, `readSize` bytes at a time
   * (default 1 MiB; the last time fewer), in one piece or several; the stream fails when the
   * compression does. Open it within onGrowing (later, the file may be closed, and a blob kept only
   * in memory has dropped its first bytes), then read it to the end or destroy it.
   */
  open(readSize?: number): Readable;
  /** The complete blob, or the compression's failure. */
  readonly done: Promise<Descriptor>;
}

/** How a layer's compressed bytes are made and who may watch them being written. */
export interface LayerWriteOptions extends CompressionOptions {
  /** Called once, before the first byte is written, with the blob as it grows (see GrowingBlob). */
  onGrowing?: (blob: GrowingBlob) => void;
  /** The pool the tar stream's buffers come from, to hand them back to once copied (see chunk-pool.ts). */
  buffers?: ChunkPool;
}

/** Picks the compressor the options describe, or explains what to install. */
export async function resolveCompressor(options: CompressionOptions = {}): Promise<Compressor> {
  const compression = options.compression ?? "gzip";
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  switch (compression) {
    case "none":
      return { compression, mediaType: MediaType.OciLayerTar, id: "none", create: () => new PassThrough() };
    case "gzip": {
      const level = checkLevel(options.level, "gzip");
      if (checkChoice("gzip", options.gzip ?? "node", ["node", "pigz"]) === "node") {
        return {
          compression,
          mediaType: MediaType.OciLayerGzip,
          id: `gzip/node-zlib-${process.versions.zlib}/level-${level}/block-${DEFAULT_GZIP_BLOCK_SIZE}/${INCOMPRESSIBLE_ID}`,
          create: (create) =>
            new ParallelGzip({ level, workers: threads, ...(create?.recycle ? { recycle: create.recycle } : {}), ...(create?.reuseMembers ? { reuseMembers: true } : {}) }),
        };
      }
      const pigz = requireProgram("pigz", "apt-get install pigz, or leave the gzip option at its default (\"node\")");
      const version = await programVersion(pigz, ["--version"]);
      return {
        compression,
        mediaType: MediaType.OciLayerGzip,
        id: `gzip/pigz-${version}/level-${level}/block-128k`,
        // -n: no file name or mtime in the header; -b fixed so the block layout is pinned. At least
        // two threads: pigz -p 1 deflates in one stream, which at level 1 gives other bytes.
        create: () => new ProcessStream(pigz, ["-n", `-${level}`, "-b", "128", "-p", String(Math.max(2, threads)), "-c"]),
      };
    }
    case "zstd": {
      const level = checkLevel(options.level, "zstd");
      if (checkChoice("zstd", options.zstd ?? "cli", ["cli", "node"]) === "node") {
        const params = { [zlib.constants.ZSTD_c_compressionLevel]: level };
        return {
          compression,
          mediaType: MediaType.OciLayerZstd,
          id: `zstd/node-zlib-${process.versions.zstd ?? process.version}/level-${level}`,
          create: () => zlib.createZstdCompress({ params }),
        };
      }
      const zstd = requireProgram("zstd", 'apt-get install zstd, or set zstd: "node" to use node\'s built-in zstd');
      const version = await programVersion(zstd, ["--version"]);
      return {
        compression,
        mediaType: MediaType.OciLayerZstd,
        id: `zstd/cli-${version}/level-${level}`,
        create: () => new ProcessStream(zstd, [`-T${threads}`, `-${level}`, "--no-progress", "-q", "-c"]),
      };
    }
    default:
      throw new LayerError("LAYER_INVALID_OPTION", `unknown compression ${JSON.stringify(compression)}`, { hint: 'use "gzip", "zstd" or "none"' });
  }
}

/**
 * Compresses a tar stream into `cacheDir/sha256-<hex>` and reports its digests. The file is
 * written under a temporary name and renamed once complete, so a crash never leaves a partial
 * blob under a digest name; two writers of the same blob produce the same file.
 */
export async function compressToCache(
  tar: Readable,
  options: LayerWriteOptions & { cacheDir: string; compressor?: Compressor },
): Promise<CompressedBlob> {
  const compressor = options.compressor ?? (await resolveCompressor(options));
  await mkdir(options.cacheDir, { recursive: true });
  const temp = join(options.cacheDir, `.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
  try {
    const made = await compressInto(await GrowingFile.create(temp), tar, compressor, options);
    const path = join(options.cacheDir, `sha256-${made.descriptor.digest.slice("sha256:".length)}`);
    await rename(temp, path);
    return { path, ...made };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** A compressed layer that was only watched as it was made (see compressWithoutCopy): no file holds it. */
export type PassedBlob = Omit<CompressedBlob, "path">;

/**
 * Compresses a tar stream for the watcher that onGrowing hands it to (an upload) and keeps no copy:
 * compressing waits for that reader instead of writing to disk. What nobody reads is dropped, so
 * the caller must be able to make the bytes again (see layer.ts's layerFromEntriesWithoutCopy).
 */
export async function compressWithoutCopy(tar: Readable, options: LayerWriteOptions & { compressor?: Compressor }): Promise<PassedBlob> {
  const compressor = options.compressor ?? (await resolveCompressor(options));
  return compressInto(GrowingFile.inMemory(), tar, compressor, options);
}

/** Compresses `tar` into `file`, learning both digests, with `onGrowing` watching the bytes land. */
async function compressInto(file: GrowingFile, tar: Readable, compressor: Compressor, { onGrowing, buffers }: LayerWriteOptions): Promise<PassedBlob> {
  const uncompressed = new DigestingStream();
  const compressed = new DigestingStream();
  let settle: { resolve: (d: Descriptor) => void; reject: (e: unknown) => void } | undefined;
  if (onGrowing) {
    const done = new Promise<Descriptor>((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => undefined); // the watcher may have stopped listening
    const opened: Readable[] = [];
    const open = (readSize?: number): Readable => {
      const stream = file.reader(0, readSize);
      opened.push(stream);
      return stream;
    };
    try {
      onGrowing({ open, done });
    } catch {
      for (const stream of opened) stream.destroy(); // a watcher that cannot start is no reason not to write the layer
    }
  }
  try {
    // Only the diffID hash sees a chunk between the tar stream and the compressor: once copied, it is free.
    const recycle = buffers ? (chunk: Buffer) => buffers.give(chunk) : undefined;
    // The file hands written members back once no reader holds them (only one kept in memory
    // does), and the compressor lends their buffers out again.
    const compress = compressor.create({ ...(recycle ? { recycle } : {}), reuseMembers: true });
    if (compress instanceof ParallelGzip) file.handBackTo((bytes) => compress.giveBack(bytes), (bytes) => compress.wantsBack(bytes));
    await pipeline(tar, uncompressed, compress, compressed, file.writable());
    const descriptor = { mediaType: compressor.mediaType, digest: compressed.digest, size: compressed.size };
    settle?.resolve(descriptor);
    return { descriptor, diffId: uncompressed.digest, uncompressedSize: uncompressed.size, compressor: compressor.id };
  } catch (error) {
    settle?.reject(error);
    throw error;
  }
}

function checkLevel(given: number | undefined, name: keyof typeof COMPRESSION_LEVELS): number {
  const { min, max } = COMPRESSION_LEVELS[name];
  const level = given ?? COMPRESSION_LEVELS[name].default;
  if (!Number.isInteger(level) || level < min || level > max) {
    throw new LayerError("LAYER_INVALID_OPTION", `${name} level ${String(level)} is out of range`, { hint: `use a whole number from ${min} to ${max}` });
  }
  return level;
}

function checkChoice<T extends string>(option: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) {
    throw new LayerError("LAYER_INVALID_OPTION", `${option} implementation ${JSON.stringify(value)} is not known`, {
      hint: `use ${allowed.map((a) => JSON.stringify(a)).join(" or ")}`,
    });
  }
  return value;
}

function requireProgram(name: string, fix: string): string {
  const path = findExecutable(name);
  if (path === undefined) {
    throw new LayerError("COMPRESSOR_UNAVAILABLE", `${name} is not on PATH`, { hint: fix });
  }
  return path;
}

const execFileAsync = promisify(execFile);
const versions = new Map<string, Promise<string>>();

/** The program's version (e.g. "2.6" from "pigz 2.6"), asked once per process. */
function programVersion(path: string, args: string[]): Promise<string> {
  let version = versions.get(path);
  if (version === undefined) {
    version = readVersion(path, args);
    versions.set(path, version);
  }
  return version;
}

async function readVersion(path: string, args: string[]): Promise<string> {
  let text: string;
  try {
    const { stdout, stderr } = await execFileAsync(path, args, { timeout: 10_000 });
    text = `${stdout}\n${stderr}`; // some versions print it on stderr
  } catch (error) {
    throw new LayerError("COMPRESSOR_FAILED", `cannot run ${path} ${args.join(" ")}`, { cause: error });
  }
  const match = /v?(\d+(?:\.\d+)+)/.exec(text);
  if (match === null) throw new LayerError("COMPRESSOR_FAILED", `cannot tell the version of ${path} from ${JSON.stringify(text.trim())}`);
  return match[1]!;
}
