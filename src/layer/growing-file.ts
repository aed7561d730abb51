// A file that can be read while it is still being written: the compressed layer goes to its cache
// file, and an upload follows it from the start as the bytes land, so the push of a big layer
// overlaps its compression instead of starting after it. The writer never waits for a reader
// (a slow network must not slow the build); readers wait for the writer. Reads and writes use
// explicit positions on one open file, which stays valid when the file is renamed. A reader that
// keeps up takes the bytes from the last few writes, still in memory, instead of reading them
// back: for a 1 GiB layer that is 1 GiB less to copy out of the page cache and allocate.
import { open, type FileHandle } from "node:fs/promises";
import { Readable, Writable } from "node:stream";

/** Bytes a reader asks for at once. */
const READ_SIZE = 1 << 20;
/** Bytes of the latest writes kept for readers that keep up (the oldest kept write may cross it). */
const RECENT_BYTES = 8 << 20;

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

  private constructor(private readonly handle: FileHandle) {}

  static async create(path: string): Promise<GrowingFile> {
    return new GrowingFile(await open(path, "wx+"));
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
    this.holders++;
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await this.release();
    };
    let position = offset;
    const stream: Readable = new Readable({
      // readSize at a time, whatever the consumer asks: one that sends what it is given as it is
      // copies nothing.
      read: () => {
        this.readNext(position, readSize).then(
          (pieces) => {
            if (pieces === null) {
              stream.push(null);
              release().catch(() => undefined); // a failed close loses nothing: every byte was read
              return;
            }
            for (const piece of pieces) {
              position += piece.length;
              stream.push(piece);
            }
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
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await this.handle.read(buffer, 0, length, position);
        return [buffer.subarray(0, bytesRead)];
      }
      if (this.complete) return null;
      await new Promise<void>((resolve) => this.wake.push(resolve));
    }
  }

  private async writeAll(chunk: Buffer): Promise<void> {
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
    while (this.recent.length > 1 && this.recentSize - this.recent[0]!.bytes.length >= RECENT_BYTES) {
      this.recentSize -= this.recent.shift()!.bytes.length;
    }
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
    await this.handle.close();
  }
}

/** The bytes in a buffer of their own (Buffer.from would put a small copy in node's shared pool). */
function ownCopy(chunk: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(chunk.length);
  chunk.copy(copy);
  return copy;
}
