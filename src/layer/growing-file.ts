// A file that can be read while it is still being written: the compressed layer goes to its cache
// file, and an upload follows it from the start as the bytes land, so the push of a big layer
// overlaps its compression instead of starting after it. With a file, the writer never waits for a
// reader (a slow network must not slow the build); readers wait for the writer. Reads and writes use
// explicit positions on one open file, which stays valid when the file is renamed. A reader that
// keeps up takes the bytes from the last few writes, still in memory, instead of reading them
// back: for a 1 GiB layer that is 1 GiB less to copy out of the page cache and allocate.
//
// A growing file can also have no file at all (inMemory): the bytes pass from the writer to the
// readers through the kept writes only, and the writer waits for the slowest reader instead (for a
// while: a reader that takes nothing for a minute is dropped). That is how a big layer goes to a
// registry without a local copy.
import { open, type FileHandle } from "node:fs/promises";
import { Readable, Writable } from "node:stream";

/** Bytes a reader asks for at once. */
const READ_SIZE = 1 << 20;
/** Bytes of the latest writes kept for readers that keep up (the oldest kept write may cross it). */
const RECENT_BYTES = 8 << 20;
/** Without a file: how long the writer waits for a reader that takes nothing before dropping it. */
const STALL_MS = 60_000;
/**
 * Without a file: how much more is written after a write leaves memory before its buffer is handed
 * back (handBackTo). Every reader had taken it by then, and has taken most of this since: what a
 * reader's consumer still holds (a socket's queue, a stream's buffer) is bounded by its backpressure,
 * a few MiB at most. Should that ever fail, the upload carries wrong bytes and the registry refuses
 * them by their digest; nothing wrong is stored.
 */
const HAND_BACK_LAG_BYTES = 4 * RECENT_BYTES;

export class GrowingFile {
  private written = 0;
  private complete = false;
  private failure: Error | undefined;
  private wake: (() => void)[] = [];
  /** The writer and each open reader hold the file; the last to let go closes it. */
  private holders = 1;
  /** The latest writes, oldest first, ending at `written`: where a reader that keeps up finds its bytes. */
  private recent: { offset: number; bytes: Buffer }[] = [];
  private recentSize = 0;
  /** Where each open reader is, how much it waits for, and how to drop it. */
  private readonly readers = new Set<{ position: number; readSize: number; drop: (error: Error) => void }>();
  /** Without a file: the writer waiting for a reader to take what would leave memory. */
  private writerWake: (() => void)[] = [];
  /** Without a file: who is told of a write's buffer once no reader can be holding it, and which it wants (handBackTo). */
  private handBack: { readonly give: (bytes: Buffer) => void; readonly wants: (bytes: Buffer) => boolean } | undefined;
  /** Writes that left memory, oldest first, with how much was written when they did. */
  private left: { bytes: Buffer; at: number }[] = [];

  /** `handle` undefined: no file, the kept writes are all there is. */
  private constructor(
    private readonly handle: FileHandle | undefined,
    private readonly stallMs = STALL_MS,
  ) {}

  static async create(path: string): Promise<GrowingFile> {
    return new GrowingFile(await open(path, "wx+"));
  }

  /**
   * A growing file with nothing on disk. Readers must be opened before the first write; each gets
   * every byte, because the writer waits while a reader that can go on lags more than the kept
   * writes hold. Once no reader is left, what is written is dropped.
   */
  static inMemory(options: { stallMs?: number } = {}): GrowingFile {
    return new GrowingFile(undefined, options.stallMs);
  }

  /**
   * Without a file: `give` is told of each written buffer it `wants` once it left memory and
   * HAND_BACK_LAG_BYTES more were written (so its writer may fill it again); with a file, never.
   * Those it does not want are not held for the lag.
   */
  handBackTo(give: (bytes: Buffer) => void, wants: (bytes: Buffer) => boolean = () => true): void {
    if (this.handle === undefined) this.handBack = { give, wants };
  }

  /** Bytes written so far. */
  get size(): number {
    return this.written;
  }

  /**
   * The writing end. Finishing it marks the file complete; destroying it with an error fails the
   * readers. Readers may be handed the very chunks written, so a writer must not change a chunk
   * after writing it.
   */
  writable(): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.writeAll(chunk).then(() => callback(), callback);
      },
      final: (callback) => {
        this.complete = true;
        this.notify();
        this.release().then(() => callback(), callback);
      },
      destroy: (error, callback) => {
        if (!this.complete) {
          this.failure = error ?? new Error("the file was abandoned before it was complete");
          this.notify();
          this.notifyWriter(); // a write waiting for a reader gives up
          this.release().then(() => callback(error), () => callback(error));
        } else callback(error);
      },
    });
  }

  /**
   * The bytes from `offset` on, as they are written, `readSize` bytes at a time (the last time
   * fewer): nothing until that many are there. Bytes still in memory come as views of the writes
   * that hold them, so one time may bring several pieces. Ends at the file's end once it is complete.
   */
  reader(offset = 0, readSize = READ_SIZE): Readable {
    if (this.holders === 0) throw new Error("the growing file is closed: open its readers before it is complete");
    if (this.handle === undefined && (offset !== 0 || this.written > 0)) throw new Error("a growing file in memory is read from its start, by readers opened before it is written");
    this.holders++;
    // Without a file the writer waits for readers, so a reader may not wait for more than memory keeps.
    const state = {
      position: offset,
      readSize: this.handle === undefined ? Math.min(readSize, RECENT_BYTES / 2) : readSize,
      drop: (error: Error) => stream.destroy(error),
    };
    this.readers.add(state);
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      this.readers.delete(state);
      this.notifyWriter();
      await this.release();
    };
    const stream: Readable = new Readable({
      // readSize at a time, whatever the consumer asks: one that sends what it is given as it is
      // copies nothing.
      read: () => {
        this.readNext(state.position, state.readSize).then(
          (pieces) => {
            if (pieces === null) {
              stream.push(null);
              release().catch(() => undefined); // a failed close loses nothing: every byte was read
              return;
            }
            // Moved on first: a read() that push() set off reads from after these pieces.
            state.position += pieces.reduce((sum, piece) => sum + piece.length, 0);
            for (const piece of pieces) stream.push(piece);
            this.notifyWriter();
          },
          (error: Error) => stream.destroy(error),
        );
      },
      destroy: (error, callback) => {
        release().then(
          () => callback(error),
          () => callback(error),
        );
      },
    });
    return stream;
  }

  /** The `length` bytes at `position` (waiting for them), fewer at the end of the file, or null past its end. */
  private async readNext(position: number, length: number): Promise<Buffer[] | null> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (position + length <= this.written || (this.complete && position < this.written)) {
        length = Math.min(length, this.written - position);
        const kept = this.fromRecent(position, length);
        if (kept !== undefined) return kept;
        if (this.handle === undefined) throw new Error(`bytes at ${position} of a growing file in memory are no longer kept`);
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await this.handle.read(buffer, 0, length, position);
        return [buffer.subarray(0, bytesRead)];
      }
      if (this.complete) return null;
      await new Promise<void>((resolve) => this.wake.push(resolve));
    }
  }

  private async writeAll(chunk: Buffer): Promise<void> {
    if (this.handle === undefined) {
      await this.roomFor(chunk.length);
      if (this.readers.size > 0) this.remember(chunk);
      else if (this.handBack?.wants(chunk)) this.handBack.give(chunk); // with no reader left, nobody saw it or will ask for it
      this.written += chunk.length;
      this.notify();
      return;
    }
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, done, chunk.length - done, this.written + done);
      done += bytesWritten;
    }
    this.remember(chunk);
    this.written += chunk.length;
    this.notify();
  }

  /** Keeps a written chunk for readers (writers hand over chunks they no longer change). */
  private remember(chunk: Buffer): void {
    if (chunk.length === 0) return;
    // A small view of a big buffer would keep the whole buffer (a 2 KiB member of zeros, its 1 MiB
    // chunk): keep a copy of the view instead, so what is kept is at most 4 times what is counted.
    const bytes = chunk.length * 4 < chunk.buffer.byteLength ? ownCopy(chunk) : chunk;
    this.recent.push({ offset: this.written, bytes });
    this.recentSize += chunk.length;
    // Without a file, nothing a reader has yet to take is dropped (memory may then hold one big write more).
    const keepFrom = this.handle === undefined ? this.slowestReader() : Infinity;
    while (this.recent.length > 1 && this.recentSize - this.recent[0]!.bytes.length >= RECENT_BYTES) {
      const oldest = this.recent[0]!;
      if (oldest.offset + oldest.bytes.length > keepFrom) break;
      this.recentSize -= oldest.bytes.length;
      this.recent.shift();
      if (this.handBack?.wants(oldest.bytes)) this.left.push({ bytes: oldest.bytes, at: this.written });
    }
    while (this.left.length > 0 && this.written - this.left[0]!.at >= HAND_BACK_LAG_BYTES) this.handBack?.give(this.left.shift()!.bytes);
  }

  /** Where the slowest open reader is (`written` when none is open). */
  private slowestReader(): number {
    let slowest = this.written;
    for (const reader of this.readers) slowest = Math.min(slowest, reader.position);
    return slowest;
  }

  /**
   * Without a file: waits while writing `length` more bytes would put a reader further behind than
   * memory keeps, as long as some reader has what it waits for (one that has not cannot take more,
   * so waiting for it would never end). A reader that takes nothing for stallMs (an upload the
   * registry stopped reading) is dropped with an error, and the writing goes on without it.
   */
  private async roomFor(length: number): Promise<void> {
    let slowest = this.slowestReader();
    let since = Date.now();
    for (;;) {
      if (this.failure) throw this.failure;
      const canRead = [...this.readers].some((r) => r.position + r.readSize <= this.written);
      if (!canRead || this.written + length - this.slowestReader() <= RECENT_BYTES) return;
      if (this.slowestReader() !== slowest) [slowest, since] = [this.slowestReader(), Date.now()];
      const left = this.stallMs - (Date.now() - since);
      if (left <= 0) {
        for (const reader of [...this.readers]) {
          if (this.written + length - reader.position <= RECENT_BYTES) continue;
          this.readers.delete(reader);
          reader.drop(new Error(`took no bytes for ${this.stallMs / 1000} s; the layer is written on without this reader`));
        }
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.writerWake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private notifyWriter(): void {
    const waiting = this.writerWake;
    this.writerWake = [];
    for (const resolve of waiting) resolve();
  }

  /**
   * The `length` bytes at `position` as views of the kept writes that hold them (a copy would cost
   * an allocation per piece: members rarely line up with reads), or undefined when they are older.
   */
  private fromRecent(position: number, length: number): Buffer[] | undefined {
    let index = this.recent.findIndex((r) => position >= r.offset && position < r.offset + r.bytes.length);
    if (index === -1) return undefined;
    // The kept writes run without a gap up to `written`, and position + length <= written.
    const pieces: Buffer[] = [];
    const end = position + length;
    for (let at = position; at < end; index++) {
      const { offset, bytes } = this.recent[index]!;
      const piece = bytes.subarray(at - offset, Math.min(end - offset, bytes.length));
      pieces.push(piece);
      at += piece.length;
    }
    return pieces;
  }

  private notify(): void {
    const waiting = this.wake;
    this.wake = [];
    for (const resolve of waiting) resolve();
  }

  private async release(): Promise<void> {
    if (--this.holders > 0) return;
    this.recent = [];
    this.recentSize = 0;
    await this.handle?.close();
  }
}

/** The bytes in a buffer of their own (Buffer.from would put a small copy in node's shared pool). */
function ownCopy(chunk: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(chunk.length);
  chunk.copy(copy);
  return copy;
}
