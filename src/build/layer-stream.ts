// A layer blob as the tar it holds: the compressed stream opened and decompressed according to
// the descriptor's media type (gzip, zstd or plain tar, in Docker's or OCI's naming).
import { pipeline, type Readable } from "node:stream";
import * as zlib from "node:zlib";
import { ImagespecError } from "../errors.js";
import type { Blob } from "../oci/index.js";

type Encoding = "gzip" | "zstd" | "none";

export function layerEncoding(mediaType: string): Encoding {
  if (/(\+|\.)gzip$/.test(mediaType)) return "gzip";
  if (/\+zstd$/.test(mediaType)) return "zstd";
  if (/(\.tar|rootfs\.diff\.tar)$/.test(mediaType)) return "none";
  throw new ImagespecError("UNSUPPORTED_LAYER", `cannot read a layer of type ${mediaType}`, {
    hint: "base image layers must be tar, tar+gzip or tar+zstd",
  });
}

const DECOMPRESSED_CHUNK_BYTES = 256 << 10;

/** The layer's uncompressed tar, streamed; the blob's own digest check still runs underneath. */
export async function openLayerTar(blob: Blob): Promise<Readable> {
  const encoding = layerEncoding(blob.descriptor.mediaType);
  const compressed = await blob.open();
  if (encoding === "none") return compressed;
  // 256 KiB output chunks instead of 16 KiB: each chunk is a round trip to libuv's thread pool,
  // and at 16 KiB those, not the inflating, set the pace (a 68 MB base layer: 1.1-1.4 s -> 0.6 s).
  const options = { chunkSize: DECOMPRESSED_CHUNK_BYTES };
  const decompress = encoding === "gzip" ? zlib.createGunzip(options) : zlib.createZstdDecompress(options);
  return pipeline(compressed, decompress, () => {});
}
