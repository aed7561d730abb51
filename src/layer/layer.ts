// Layers as the rest of imagespec sees them: a Blob (descriptor + open()) that also knows its
// diffID. Most constructors here end with the compressed bytes in a file, built once, so open()
// can be called any number of times (push, retry, write a layout) without rebuilding. The one
// exception keeps no copy (layerFromEntriesWithoutCopy): a big layer bound for a registry is
// uploaded as it is made, and its bytes are made again from the same entries if ever read.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline, type Readable } from "node:stream";
import { DigestingStream, isDigest, MediaType, type Blob, type Descriptor } from "../oci/index.js";
import type { Reference } from "../reference/index.js";
import { compressToCache, compressWithoutCopy, resolveCompressor, type LayerWriteOptions } from "./compress.js";
import type { LayerEntry } from "./entries.js";
import { LayerError } from "./errors.js";
import { ChunkPool } from "./chunk-pool.js";
import { tarStream, type TarOptions } from "./tar.js";

export interface Layer extends Blob {
  /** sha256 of the uncompressed tar, listed in the image config's rootfs.diff_ids. */
  readonly diffId: string;
  readonly uncompressedSize?: number;
}

/** A layer whose compressed bytes are in a local file. */
export interface FileLayer extends Layer {
  readonly path: string;
  /** The Compressor.id that wrote the file, when this process wrote it. */
  readonly compressor?: string;
}

export interface LayerBuildOptions extends LayerWriteOptions {
  /** Directory the compressed blob is written to (as `sha256-<hex>`). */
  cacheDir: string;
}

export interface EntriesLayerOptions extends LayerBuildOptions {
  /** mtime of every entry in seconds; default SOURCE_DATE_EPOCH, else 0. */
  epoch?: number | Date;
}

/** Builds a reproducible layer from entries: tar, compress and hash in one pass. */
export async function layerFromEntries(entries: Iterable<LayerEntry>, options: EntriesLayerOptions): Promise<FileLayer> {
  const { epoch, ...build } = options;
  const { tar, buffers } = pooledTar(entries, epoch);
  return layerFromTarStream(tar, { ...build, buffers });
}

/** The entries' tar, its files read into a pool's buffers that the compressor hands back (chunk-pool.ts). */
function pooledTar(entries: Iterable<LayerEntry>, epoch: number | Date | undefined): { tar: Readable; buffers: ChunkPool } {
  const buffers = new ChunkPool();
  return { tar: tarStream(entries, { buffers, ...(epoch === undefined ? {} : { epoch }) }), buffers };
}

/** Compresses an uncompressed tar stream (built elsewhere, e.g. from a .deb) into a layer. */
export async function layerFromTarStream(tar: Readable, options: LayerBuildOptions): Promise<FileLayer> {
  const blob = await compressToCache(tar, options);
  return fileLayer(blob.path, blob.descriptor, blob.diffId, blob.uncompressedSize, { compressor: blob.compressor });
}

/**
 * Builds a layer from entries for the upload that `onGrowing` starts, keeping no copy on disk (a
 * 1 GiB layer is 1 GiB this machine need not write). open() makes the bytes again from the same
 * entries and checks them against the digest, so a push that finds the upload did not finish still
 * has them, and a source file changed since fails that read instead of entering an image.
 */
export async function layerFromEntriesWithoutCopy(entries: readonly LayerEntry[], options: LayerWriteOptions & TarOptions): Promise<Layer> {
  const { epoch, ...write } = options;
  const { tar, buffers } = pooledTar(entries, epoch);
  const made = await compressWithoutCopy(tar, { ...write, buffers });
  return remadeLayer(entries, made, options);
}

/** What a layer made earlier is known by. */
export interface KnownLayer {
  readonly descriptor: Descriptor;
  readonly diffId: string;
  readonly uncompressedSize?: number;
}

/**
 * A layer made earlier from `entries` and kept nowhere (layerFromEntriesWithoutCopy); each open()
 * makes its bytes again with the same compression and epoch, checked against the digest.
 */
export function remadeLayer(entries: readonly LayerEntry[], known: KnownLayer, options: LayerWriteOptions & TarOptions): Layer {
  const { epoch, onGrowing: _watcher, buffers: _buffers, ...compression } = options;
  const { descriptor, diffId, uncompressedSize } = known;
  return {
    descriptor,
    diffId,
    ...(uncompressedSize !== undefined ? { uncompressedSize } : {}),
    verifiesItself: true,
    async open() {
      const compressor = await resolveCompressor(compression);
      const check = new DigestingStream({
        digest: descriptor.digest,
        size: descriptor.size,
        what: `layer ${descriptor.digest}, made again from its ${entries.length} files (were they changed since the build began?)`,
      });
      const { tar, buffers } = pooledTar(entries, epoch);
      const compress = compressor.create({ recycle: (chunk) => buffers.give(chunk) });
      // A reader that stops early (a failed upload) ends the pipeline; what the inner streams say
      // after that, no one listens to, and it would end the process. Failures reach the reader
      // through `check`.
      for (const inner of [tar, compress]) inner.on("error", () => undefined);
      return pipeline(tar, compress, check, () => {});
    },
  };
}

export interface ExistingLayerOptions {
  /** Digest of the file's bytes; every open() checks the bytes against it. */
  digest: string;
  diffId: string;
  /** Default: gzip. */
  mediaType?: string;
  /** Checked against the file now when given. */
  size?: number;
  uncompressedSize?: number;
  /** Repositories known to hold the blob, for cross-repository mounts. */
  sources?: readonly Reference[];
}

/**
 * A layer already compressed on disk, e.g. from a local cache. Nothing is rehashed up front;
 * instead every open() verifies the digest as it streams, so a damaged cache file fails the
 * read rather than being pushed.
 */
export async function layerFromFile(path: string, options: ExistingLayerOptions): Promise<FileLayer> {
  for (const [name, value] of [["digest", options.digest], ["diffId", options.diffId]] as const) {
    if (!isDigest(value)) {
      throw new LayerError("LAYER_INVALID_OPTION", `layer ${path}: ${name} ${JSON.stringify(value)} is not a sha256 digest`, {
        hint: "write digests as sha256:<64 lowercase hex digits>",
      });
    }
  }
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    throw new LayerError("LAYER_INVALID_OPTION", `layer file ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  if (options.size !== undefined && options.size !== size) {
    throw new LayerError("LAYER_SIZE_MISMATCH", `layer file ${path} has ${size} bytes, expected ${options.size}`, {
      hint: "the cached file is incomplete or was replaced; delete it so the layer is rebuilt",
    });
  }
  const descriptor: Descriptor = { mediaType: options.mediaType ?? MediaType.OciLayerGzip, digest: options.digest, size };
  return fileLayer(path, descriptor, options.diffId, options.uncompressedSize, {
    ...(options.sources !== undefined ? { sources: options.sources } : {}),
  });
}

const READ_CHUNK_BYTES = 256 << 10;

function fileLayer(
  path: string,
  descriptor: Descriptor,
  diffId: string,
  uncompressedSize: number | undefined,
  extra: { compressor?: string; sources?: readonly Reference[] },
): FileLayer {
  return {
    path,
    descriptor,
    diffId,
    ...(uncompressedSize !== undefined ? { uncompressedSize } : {}),
    ...extra,
    verifiesItself: true,
    async open() {
      const check = new DigestingStream({ digest: descriptor.digest, size: descriptor.size, what: `layer ${path}` });
      // pipeline closes the file when the reader stops early or the check fails. 256 KiB reads: a
      // push passes each chunk through two digest checks, a counter and the socket, and 64 KiB
      // chunks (the default) cost a fifth more CPU for the same bytes; 1 MiB ones saved no more
      // and raised the peak RSS of a 2 GiB push by 10 MB.
      return pipeline(createReadStream(path, { highWaterMark: READ_CHUNK_BYTES }), check, () => {});
    },
  };
}
