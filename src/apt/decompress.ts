// Decompressors for what Debian archives hold: gzip (zlib), xz (WebAssembly, no native code) and
// zstd (node's zlib), by file-name suffix.
import { createRequire } from "node:module";
import { PassThrough, Readable, type Duplex } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import * as zlib from "node:zlib";
import { AptError } from "./errors.js";

export type Compression = "gz" | "xz" | "zst" | "none";

export function compressionOf(name: string): Compression | undefined {
  if (name.endsWith(".gz")) return "gz";
  if (name.endsWith(".xz")) return "xz";
  if (name.endsWith(".zst")) return "zst";
  if (!/\.(bz2|lzma|lz4)$/.test(name)) return "none";
  return undefined;
}

const require = createRequire(import.meta.url);
type XzModule = { XzReadableStream: new (input: WebReadableStream<Uint8Array>) => WebReadableStream<Uint8Array> };
let xzModule: XzModule | undefined;

/** `input`, decompressed. */
export function decompress(input: Readable, compression: Compression, what: string): Readable {
  switch (compression) {
    case "none":
      return input;
    case "gz":
      return pipe(input, zlib.createGunzip(), what);
    case "zst":
      return pipe(input, zstd(), what);
    case "xz": {
      xzModule ??= require("xz-decompress") as XzModule;
      const web = new xzModule.XzReadableStream(Readable.toWeb(input) as WebReadableStream<Uint8Array>);
      const out = Readable.fromWeb(web);
      const failing = new PassThrough();
      out.on("error", (error) => failing.destroy(new AptError("APT_DECOMPRESS", `cannot decompress ${what} (xz): ${error.message}`, { cause: error })));
      input.on("error", (error) => failing.destroy(error));
      return out.pipe(failing);
    }
  }
}

function pipe(input: Readable, through: Duplex, what: string): Readable {
  input.on("error", (error) => through.destroy(error));
  through.on("error", () => undefined);
  const out = new PassThrough();
  through.on("error", (error) => out.destroy(error instanceof AptError ? error : new AptError("APT_DECOMPRESS", `cannot decompress ${what}: ${error.message}`, { cause: error })));
  return input.pipe(through).pipe(out);
}

function zstd(): Duplex {
  return zlib.createZstdDecompress();
}
