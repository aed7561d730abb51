// Shared by the layer tests: collecting streams, reading tars back, generating test data.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { extract } from "tar-stream";
import type { LayerEntry } from "../../src/layer/index.js";

export async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

export function sha256hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export interface ReadEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  linkname: string | null;
  /** The entry's PAX record, if it had one. */
  pax: Record<string, string> | null;
  content: Buffer;
}

/** Reads a tar back with an independent parser (tar-stream's extract). */
export async function readTar(tar: Buffer): Promise<ReadEntry[]> {
  const entries: ReadEntry[] = [];
  const parser = extract();
  const done = (async () => {
    for await (const entry of parser) {
      const h = entry.header;
      const content = await collect(entry);
      entries.push({
        name: h.name,
        type: h.type,
        mode: h.mode,
        uid: h.uid,
        gid: h.gid,
        uname: h.uname,
        gname: h.gname,
        size: h.size,
        mtime: h.mtime.getTime() / 1000,
        linkname: h.linkname,
        pax: (h.pax as Record<string, string> | null | undefined) ?? null,
        content,
      });
    }
  })();
  parser.end(tar);
  await done;
  return entries;
}

/** A file entry whose content is given in memory (streamed as one chunk). */
export function memoryFile(path: string, content: string | Buffer, mode = 0o644, extra: Partial<LayerEntry> = {}): LayerEntry {
  const data = Buffer.from(content);
  return { path, type: "file", mode, size: data.length, open: () => Readable.from([data]), ...extra };
}

/**
 * Reproducible test data: `size` bytes, half text-like (compressible) and half pseudo-random
 * (incompressible), from a seeded generator so every run sees the same bytes.
 */
export function mixedData(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const words = ["layer", "image", "digest", "tar", "gzip", "zstd", "manifest", "blob", "the", "a", "of", "registry\n"];
  const half = Math.floor(size / 2);
  let i = 0;
  while (i < half) {
    const word = words[next() % words.length]!;
    i += out.write(`${word} `, i, Math.min(word.length + 1, half - i));
  }
  for (; i < size; i++) out[i] = next() & 0xff;
  return out;
}
