// Entries -> a byte-for-byte reproducible tar stream. Everything that could vary between
// machines is fixed: order (planned), mtime (one epoch), owner (numeric, no user names), and
// the header format (ustar, with PAX records only for what ustar cannot hold). File contents
// are streamed one entry at a time with backpressure, never held whole.
import { createReadStream } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { pack as tarPack, type Header, type Pack } from "tar-stream";
import type { ChunkPool } from "./chunk-pool.js";
import { planEntries, type LayerEntry, type PlannedEntry } from "./entries.js";
import { resolveEpoch } from "./epoch.js";
import { LayerError } from "./errors.js";

export interface TarOptions {
  /** mtime of every entry, in seconds (or a Date). Default: SOURCE_DATE_EPOCH, else 0. */
  epoch?: number | Date;
  /** Read files into these buffers, which the compressor hands back (see chunk-pool.ts). */
  buffers?: ChunkPool;
}

/** Largest size the 11 octal digits of a ustar header hold; bigger files need a PAX size record. */
const USTAR_MAX_SIZE = 8 ** 11 - 1;
/** Largest uid/gid tar-stream writes in a ustar header (6 octal digits); larger ones go in PAX. */
const USTAR_MAX_ID = 8 ** 6 - 1;

// tar-stream replaces a falsy mode with its own default, which would turn mode 0 into 0644;
// passing the file-type bits along keeps the value truthy, and the writer masks them off.
const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000, hardlink: 0o100000 } as const;
const TAR_TYPE = { file: "file", dir: "directory", symlink: "symlink", hardlink: "link" } as const;

/**
 * A reproducible tar of the entries. Invalid entries (duplicates, `..`, missing link targets)
 * throw here, before any byte is produced; content problems (a file shorter or longer than
 * declared, an unreadable source) fail the returned stream with a LayerError naming the path.
 */
export function tarStream(entries: Iterable<LayerEntry>, options: TarOptions = {}): Readable {
  const planned = planEntries(entries);
  const mtime = new Date(resolveEpoch(options.epoch) * 1000);
  const pack = tarPack();
  writeEntries(pack, planned, mtime, options.buffers).then(
    () => pack.finalize(),
    (error: unknown) => pack.destroy(error instanceof Error ? error : new Error(String(error))),
  );
  return Readable.from(pack, { objectMode: false });
}

async function writeEntries(pack: Pack, entries: readonly PlannedEntry[], mtime: Date, buffers: ChunkPool | undefined): Promise<void> {
  for (const entry of entries) {
    if (entry.type === "file") await writeFile(pack, entry, mtime, buffers);
    else await writeEmpty(pack, header(entry, 0, mtime));
  }
}

type Headers = Partial<Header> & Pick<Header, "name" | "type">;
type Sink = ReturnType<Pack["entry"]>;

function header(entry: PlannedEntry, size: number, mtime: Date): Headers {
  const pax: Record<string, string> = {};
  if (size > USTAR_MAX_SIZE) pax.size = String(size);
  if (entry.uid > USTAR_MAX_ID) pax.uid = String(entry.uid);
  if (entry.gid > USTAR_MAX_ID) pax.gid = String(entry.gid);
  return {
    // Directories end in "/", as GNU tar and Docker write them.
    name: entry.type === "dir" ? `${entry.path}/` : entry.path,
    type: TAR_TYPE[entry.type],
    mode: TYPE_BITS[entry.type] | entry.mode,
    uid: Math.min(entry.uid, USTAR_MAX_ID),
    gid: Math.min(entry.gid, USTAR_MAX_ID),
    size,
    mtime,
    uname: "",
    gname: "",
    ...(entry.linkTarget !== undefined ? { linkname: entry.linkTarget } : {}),
    ...(Object.keys(pax).length > 0 ? { pax } : {}),
  };
}

/** Starts an entry; the promise settles when tar-stream has written all of it (or failed). */
function startEntry(pack: Pack, headers: Headers): { sink: Sink; done: Promise<void> } {
  let sink!: Sink;
  const done = new Promise<void>((resolve, reject) => {
    sink = pack.entry(headers, (error) => (error ? reject(error) : resolve()));
  });
  // A failed entry is reported through `done`; without a listener the sink's "error" event would crash the process.
  sink.on("error", () => {});
  // A tar stream destroyed by its reader (an upload that failed) rejects `done` while the writer
  // waits elsewhere (for a drain); it learns of it there, and this rejection must not go unheard.
  done.catch(() => {});
  return { sink, done };
}

function writeEmpty(pack: Pack, headers: Headers): Promise<void> {
  const { sink, done } = startEntry(pack, headers);
  if (headers.type === "file") endEntry(sink);
  return done;
}

function endEntry(sink: Sink): void {
  sink.end(undefined); // streamx's types want an argument; undefined means "no more data"
}

async function writeFile(pack: Pack, entry: PlannedEntry, mtime: Date, buffers: ChunkPool | undefined): Promise<void> {
  const size = entry.size ?? (await sourceSize(entry));
  if (entry.open === undefined && entry.source === undefined) return writeEmpty(pack, header(entry, 0, mtime));
  const content = await openContent(entry, buffers);
  const { sink, done } = startEntry(pack, header(entry, size, mtime));
  try {
    let written = 0;
    for await (const data of content as AsyncIterable<Buffer | string>) {
      const chunk = typeof data === "string" ? Buffer.from(data) : data;
      written += chunk.length;
      if (written > size) throw sizeMismatch(entry, size);
      if (!sink.write(chunk)) await drained(sink);
    }
    if (written < size) throw sizeMismatch(entry, size, written);
    endEntry(sink);
    await done;
  } catch (error) {
    // The caller destroys the whole pack with this error; the entry's own failure (`done`) is secondary.
    content.destroy();
    throw error instanceof LayerError ? error : contentError(entry, error);
  }
}

async function sourceSize(entry: PlannedEntry): Promise<number> {
  try {
    const info = await stat(entry.source!);
    if (!info.isFile()) throw new Error("not a regular file");
    return info.size;
  } catch (error) {
    throw contentError(entry, error);
  }
}

async function openContent(entry: PlannedEntry, buffers: ChunkPool | undefined): Promise<Readable> {
  try {
    if (entry.open !== undefined) return await entry.open();
    // Files of more than one buffer are read into the pool's buffers; small ones are not worth it.
    if (buffers !== undefined && (entry.size ?? 0) > 64 << 10) return pooledReader(await open(entry.source!, "r"), buffers);
    // 1 MiB reads for big files: a sixteenth of the read calls of the default 64 KiB.
    return createReadStream(entry.source!, { highWaterMark: Math.min(1 << 20, Math.max(64 << 10, entry.size ?? 0)) });
  } catch (error) {
    throw contentError(entry, error);
  }
}

/** The file's bytes read into the pool's buffers, one read at a time. */
function pooledReader(file: FileHandle, buffers: ChunkPool): Readable {
  let position = 0;
  return new Readable({
    read() {
      const buffer = buffers.take();
      file.read(buffer, 0, buffer.length, position).then(
        ({ bytesRead }) => {
          if (bytesRead === 0) {
            this.push(null);
            return;
          }
          position += bytesRead;
          this.push(buffers.issue(buffer.subarray(0, bytesRead)));
        },
        (error: Error) => this.destroy(error),
      );
    },
    destroy(error, callback) {
      file.close().then(
        () => callback(error),
        () => callback(error),
      );
    },
  });
}

function drained(sink: Sink): Promise<void> {
  // A destroyed sink has closed already: it would never say so again.
  if (sink.destroyed) return Promise.reject(new Error("tar stream closed while writing"));
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      sink.off("drain", done);
      sink.off("close", closed);
      sink.off("error", done);
      if (error) reject(error);
      else resolve();
    };
    const closed = () => done(new Error("tar stream closed while writing"));
    sink.on("drain", done);
    sink.on("close", closed);
    sink.on("error", done);
  });
}

/** `actual` is known when the content ended early; when it overflowed, only that it was more. */
function sizeMismatch(entry: PlannedEntry, size: number, actual?: number): LayerError {
  const got = actual === undefined ? `more than ${size}` : String(actual);
  return new LayerError("LAYER_SIZE_MISMATCH", `layer entry ${JSON.stringify(entry.path)}: content has ${got} bytes, but its size is ${size}`, {
    hint:
      actual === undefined
        ? "the declared size is too small, or the source grew while the layer was written"
        : "the declared size is too large, or the source shrank while the layer was written",
  });
}

function contentError(entry: PlannedEntry, cause: unknown): LayerError {
  const where = entry.source !== undefined && entry.open === undefined ? ` from ${entry.source}` : "";
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new LayerError("LAYER_INVALID_ENTRY", `layer entry ${JSON.stringify(entry.path)}: cannot read content${where}: ${reason}`, { cause });
}
