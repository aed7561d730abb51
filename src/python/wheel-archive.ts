// A wheel opened as a zip: the central directory is read once, and each member is streamed on
// demand. The reader opens the file for every range it reads instead of holding a descriptor, so
// entries handed to a layer writer stay valid however late (or how often) they are opened, and
// nothing has to be closed.
import { closeSync, createReadStream, openSync, readSync } from "node:fs";
import { stat } from "node:fs/promises";
import { pipeline, Readable, Transform } from "node:stream";
import { createInflateRaw, inflateRawSync } from "node:zlib";
import yauzl from "yauzl";
import { PythonError } from "./errors.js";

export interface ArchiveMember {
  /** The member's name as stored, checked to stay inside the archive root. */
  readonly name: string;
  readonly size: number;
  /** Unix permission bits from the external attributes, or undefined when the zip was not made on Unix. */
  readonly unixMode: number | undefined;
  readonly isDirectory: boolean;
}

/** Members up to this size (both ways) are read whole; bigger ones stream through the zip reader. */
const WHOLE_MEMBER_BYTES = 1 << 20;
/** What the central directory's listing reads at once (a big wheel's directory is a few hundred kB). */
const LISTING_WINDOW_BYTES = 256 << 10;
/** Read and inflate size for members that stream. */
const STREAM_CHUNK_BYTES = 256 << 10;
const LOCAL_HEADER_BYTES = 30;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const UNIX_HOST = 3;

/**
 * Reads byte ranges of one file, opening it anew for each range. While the central directory is
 * listed, yauzl's small reads (two per member) are served from a window of the file read in one
 * go: through streams, each was two opens of the file, and a wheel has thousands of members.
 */
class FileRangeReader extends yauzl.RandomAccessReader {
  /** Set while listing: small reads come from `window`. */
  listing = false;
  private window: { start: number; bytes: Buffer } | undefined;

  constructor(
    private readonly path: string,
    private readonly size: number,
  ) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    return createReadStream(this.path, { start, end: end - 1, highWaterMark: STREAM_CHUNK_BYTES });
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    if (!this.listing) return super.read(buffer, offset, length, position, callback);
    let failure: Error | null = null;
    try {
      const window = this.windowOver(position, length);
      window.bytes.copy(buffer, offset, position - window.start, position - window.start + length);
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    // yauzl expects the answer later, as from a stream.
    setImmediate(() => callback(failure));
  }

  /** Lets the window go once the listing is done. */
  listed(): void {
    this.listing = false;
    this.window = undefined;
  }

  private windowOver(position: number, length: number): { start: number; bytes: Buffer } {
    const held = this.window;
    if (held !== undefined && position >= held.start && position + length <= held.start + held.bytes.length) return held;
    const bytes = readRange(this.path, position, Math.max(length, LISTING_WINDOW_BYTES), this.size);
    if (bytes.length < length) throw new Error("unexpected EOF");
    this.window = { start: position, bytes };
    return this.window;
  }
}

export class WheelArchive {
  private constructor(
    readonly path: string,
    private readonly size: number,
    private readonly zip: yauzl.ZipFile,
    private readonly entries: ReadonlyMap<string, { entry: yauzl.Entry; member: ArchiveMember }>,
    readonly members: readonly ArchiveMember[],
  ) {}

  /** Reads the central directory; throws WHEEL_INVALID for a damaged zip and WHEEL_UNSAFE_PATH for a member that would escape. */
  static async open(path: string, what = path): Promise<WheelArchive> {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (error) {
      throw damaged(what, error);
    }
    const reader = new FileRangeReader(path, size);
    reader.listing = true;
    const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => {
      // decodeStrings off: names are checked here, with an error that names the wheel.
      yauzl.fromRandomAccessReader(reader, size, { lazyEntries: true, autoClose: false, decodeStrings: false }, (error, zipfile) =>
        error ? reject(damaged(what, error)) : resolve(zipfile),
      );
    });
    const entries = new Map<string, { entry: yauzl.Entry; member: ArchiveMember }>();
    const members: ArchiveMember[] = [];
    try {
      for await (const entry of zip.eachEntry()) {
        const name = memberName(entry.fileName as unknown as Buffer, what);
        if (entries.has(name)) {
          throw new PythonError("WHEEL_INVALID", `${what}: the zip lists ${JSON.stringify(name)} twice`, { hint: "rebuild the wheel" });
        }
        const hostIsUnix = entry.versionMadeBy >> 8 === UNIX_HOST;
        const attributes = entry.externalFileAttributes >>> 16;
        const isDirectory = name.endsWith("/") || (hostIsUnix && (attributes & S_IFMT) === S_IFDIR);
        const member = { name, size: entry.uncompressedSize, unixMode: hostIsUnix && attributes !== 0 ? attributes : undefined, isDirectory };
        entries.set(name, { entry, member });
        members.push(member);
      }
    } catch (error) {
      throw error instanceof PythonError ? error : damaged(what, error);
    } finally {
      reader.listed();
    }
    return new WheelArchive(path, size, zip, entries, members);
  }

  member(name: string): ArchiveMember | undefined {
    return this.entries.get(name)?.member;
  }

  /** A stream of the member's uncompressed bytes; the size is checked against the central directory. */
  async openMember(name: string): Promise<Readable> {
    const entry = this.entries.get(name)?.entry;
    if (entry === undefined) throw new PythonError("WHEEL_INVALID", `${this.path}: no member ${JSON.stringify(name)}`);
    try {
      if (readsWhole(entry)) return Readable.from([this.readWhole(entry)], { objectMode: false });
      if (entry.compressionMethod === DEFLATED && !entry.isEncrypted()) {
        // The raw bytes from the zip reader (it checks the local header), inflated here in big chunks.
        return inflating(await this.zip.openReadStreamPromise(entry, { decodeFileData: false }), entry.uncompressedSize);
      }
      return await this.zip.openReadStreamPromise(entry, {});
    } catch (error) {
      throw damaged(`${this.path}: ${name}`, error);
    }
  }

  /**
   * A small member in one read of the file and one inflate call. Most members of a wheel are a few
   * kB; through the zip reader's streams each costs two opens of the file, half a dozen stream
   * objects and 16 kB chunks, which on a busy machine cost more than the bytes themselves.
   */
  private readWhole(entry: yauzl.Entry): Buffer {
    const offset = entry.relativeOffsetOfLocalHeader;
    // Deflated bytes are needed only until they are inflated, a few lines down: they go into one
    // buffer reused for every member. Stored bytes are the content and get a buffer of their own.
    const into = entry.compressionMethod === STORED ? undefined : scratch;
    // The local header usually has the central one's name and extra field lengths: then one read.
    const guess = LOCAL_HEADER_BYTES + entry.fileNameLength + entry.extraFieldLength;
    const head = readRange(this.path, offset, guess + entry.compressedSize, this.size, into);
    if (head.length < LOCAL_HEADER_BYTES || head.readUInt32LE(0) !== LOCAL_HEADER_SIGNATURE) {
      throw new Error(`invalid local file header signature at offset ${offset}`);
    }
    const start = LOCAL_HEADER_BYTES + head.readUInt16LE(26) + head.readUInt16LE(28);
    if (offset + start + entry.compressedSize > this.size) {
      throw new Error(`file data overflows file bounds: ${offset + start} + ${entry.compressedSize} > ${this.size}`);
    }
    const end = start + entry.compressedSize;
    const data = end <= head.length ? head.subarray(start, end) : readRange(this.path, offset + start, entry.compressedSize, this.size, into);
    // At most one byte more than the directory says, so a lying entry cannot make a big buffer.
    const content = entry.compressionMethod === STORED ? data : inflate(data, entry.uncompressedSize + 1);
    if (content.length !== entry.uncompressedSize) {
      throw new Error(`${content.length > entry.uncompressedSize ? "more" : "fewer"} bytes than the expected ${entry.uncompressedSize}`);
    }
    return content;
  }

  /** A small member (metadata) read whole. */
  async readMember(name: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.openMember(name)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
}

/** Plain (unencrypted) members small enough to hold, stored or deflated; anything else goes to the zip reader. */
function readsWhole(entry: yauzl.Entry): boolean {
  return (
    entry.uncompressedSize <= WHOLE_MEMBER_BYTES &&
    entry.compressedSize <= WHOLE_MEMBER_BYTES &&
    !entry.isEncrypted() &&
    (entry.compressionMethod === DEFLATED || (entry.compressionMethod === STORED && entry.compressedSize === entry.uncompressedSize))
  );
}

/**
 * A big member's raw deflate stream inflated in 256 KiB chunks (zlib's default of 16 KiB makes
 * one thread-pool round trip per 16 KiB, which sets the pace), failing unless it gives `size` bytes.
 */
function inflating(raw: Readable, size: number): Readable {
  const inflater = createInflateRaw({ chunkSize: STREAM_CHUNK_BYTES });
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      callback(seen > size ? new Error(`more bytes than the expected ${size}`) : null, chunk);
    },
    flush(callback) {
      callback(seen < size ? new Error(`fewer bytes (${seen}) than the expected ${size}`) : null);
    },
  });
  pipeline(raw, inflater, counted, () => undefined);
  return counted;
}

/** A buffer lent out again and again, grown to the largest size asked for (at most about WHOLE_MEMBER_BYTES). */
class Scratch {
  private buffer = Buffer.allocUnsafeSlow(64 << 10);

  /** The first `size` bytes; valid until the next take. */
  take(size: number): Buffer {
    if (this.buffer.length < size) this.buffer = Buffer.allocUnsafeSlow(size);
    return this.buffer.subarray(0, size);
  }
}

const scratch = new Scratch();

/**
 * `length` bytes of the file from `position`, read on this thread: for at most WHOLE_MEMBER_BYTES
 * of a wheel just downloaded (in the page cache) that takes microseconds, where a thread-pool round
 * trip for each of open, read and close costs more than the read and is paid thousands of times.
 */
function readRange(path: string, position: number, length: number, fileSize: number, into?: Scratch): Buffer {
  const wanted = Math.max(0, Math.min(length, fileSize - position));
  const buffer = into ? into.take(wanted) : Buffer.allocUnsafe(wanted);
  const fd = openSync(path, "r");
  try {
    let filled = 0;
    while (filled < wanted) {
      const bytesRead = readSync(fd, buffer, filled, wanted - filled, position + filled);
      if (bytesRead === 0) throw new Error(`unexpected end of file at offset ${position + filled}`);
      filled += bytesRead;
    }
  } finally {
    closeSync(fd);
  }
  return buffer;
}

/**
 * Raw deflate in one call, stopped past `maxOutputLength` bytes. On this thread: for a member
 * of at most WHOLE_MEMBER_BYTES that is a millisecond or two, less than handing it to a pool.
 */
function inflate(data: Buffer, maxOutputLength: number): Buffer {
  try {
    // One output chunk the size of the result: no chunks to gather and copy.
    return inflateRawSync(data, { maxOutputLength, chunkSize: Math.max(64, maxOutputLength) });
  } catch (error) {
    // Past the limit: the member inflates to more than the directory says.
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw new Error(`more bytes than the expected ${maxOutputLength - 1}`);
    throw error;
  }
}

function damaged(what: string, cause: unknown): PythonError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new PythonError("WHEEL_INVALID", `${what} is not a readable zip archive: ${reason}`, {
    hint: "the wheel is damaged or truncated; delete it from the cache and download it again",
    cause,
  });
}

/**
 * Wheels name their members in UTF-8 with forward slashes. Anything absolute, with `..`, with a
 * backslash (a Windows separator some extractors honour) or a NUL could land outside the
 * install directory, so the whole wheel is refused.
 */
function memberName(raw: Buffer, what: string): string {
  const name = raw.toString("utf8");
  const unsafe = (problem: string) =>
    new PythonError("WHEEL_UNSAFE_PATH", `${what} holds a member ${JSON.stringify(name)} that ${problem}`, {
      hint: "the wheel could write outside its install directory; it is refused. Report it to the package's maintainers",
    });
  if (name.includes("\0")) throw unsafe("contains a NUL byte");
  if (name.includes("\\")) throw unsafe("contains a backslash");
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) throw unsafe("is an absolute path");
  if (name.split("/").includes("..")) throw unsafe('contains ".."');
  if (name === "" || name === "/") throw unsafe("has an empty name");
  return name;
}
