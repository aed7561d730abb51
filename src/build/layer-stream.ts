// A layer blob as the tar it holds: the compressed stream opened and decompressed according to
// the descriptor's media type (gzip, zstd or plain tar, in Docker's or OCI's naming).
import { pipeline, type Duplex, type Readable } from "node:stream";
import * as zlib from "node:zlib";
import { ImagespecError } from "../errors.js";
import { findExecutable, ProcessStream } from "../layer/process-stream.js";
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

/** The layer's uncompressed tar, streamed; the blob's own digest check still runs underneath. */
export async function openLayerTar(blob: Blob): Promise<Readable> {
  const encoding = layerEncoding(blob.descriptor.mediaType);
  const compressed = await blob.open();
  if (encoding === "none") return compressed;
  const decompress = encoding === "gzip" ? zlib.createGunzip() : zstdDecompressor();
  return pipeline(compressed, decompress, () => {});
}

function zstdDecompressor(): Duplex {
  // node >= 22.15 has zstd in zlib; node 20 does not (nor its types), so the zstd program is the fallback.
  const create = (zlib as unknown as { createZstdDecompress?: () => Duplex }).createZstdDecompress;
  if (typeof create === "function") return create();
  const program = findExecutable("zstd");
  if (program === undefined) {
    throw new ImagespecError("COMPRESSOR_UNAVAILABLE", "a base layer is zstd-compressed and neither node's zlib nor the zstd program can read it", {
      hint: "install zstd (apt-get install zstd), or use node 22.15 or newer",
    });
  }
  return new ProcessStream(program, ["-d", "-c", "-q"]);
}
