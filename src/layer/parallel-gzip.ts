// gzip on every core without pigz: the input is cut into fixed-size blocks, each block becomes
// an independent gzip member on a worker thread, and the members are written in input order.
// RFC 1952 allows a gzip file to be a series of members and every gunzip and tar reader
// decompresses them as one stream. Because the block size is fixed and blocks share no
// state, the output depends only on the input, the level and the block size, not on the
// number of workers or on timing. Memory stays bounded: at most `inFlight` blocks are
// compressing at once, and the stream stops accepting input while the reader lags behind.
import { Transform, type TransformCallback } from "node:stream";
import { gzipWorkerPool, storedMemberBytes, type GzipBlockResult, type GzipWorkerPool } from "./gzip-workers.js";
import { DEFAULT_GZIP_LEVEL } from "./levels.js";

export const DEFAULT_GZIP_BLOCK_SIZE = 1024 * 1024;

export interface ParallelGzipOptions {
  /** zlib level 0-9; default DEFAULT_GZIP_LEVEL (1). */
  level?: number;
  /** Bytes per gzip member; part of what determines the output bytes. Default 1 MiB. */
  blockSize?: number;
  /** Worker threads; does not change the output. Default: one per available core. */
  workers?: number;
  /**
   * Store blocks that samples show to be incompressible instead of deflating them (default
   * true); part of what determines the output bytes.
   */
  storeIncompressible?: boolean;
  /** Blocks compressing or queued at once, bounding memory; default four per worker (two in each worker's queue, two more being filled and written). */
  inFlight?: number;
  /** A pool to use instead of the shared one. */
  pool?: GzipWorkerPool;
  /** Told of each input chunk once its bytes are copied (see chunk-pool.ts). */
  recycle?: (chunk: Buffer) => void;
  /**
   * The reader will hand members back (giveBack) once nothing holds them: the buffers of stored
   * members are then lent to the workers again, so a random layer needs no new memory per block.
   */
  reuseMembers?: boolean;
}

/** Member buffers kept for lending; more are simply made (and left to the GC). */
const KEPT_MEMBER_BUFFERS = 16;

// Byte 9 of a gzip header names the OS that wrote it; zlib fills in the build platform's code
// (3 on Linux, 19 on macOS). Pinning it keeps the bytes identical on every machine.
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNIX = 3;

export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly storeIncompressible: boolean;
  private readonly blockSize: number;
  private readonly inFlight: number;
  private readonly pool: GzipWorkerPool;
  private readonly recycle: ((chunk: Buffer) => void) | undefined;
  /** Members being compressed, oldest first: the order they are written in. */
  private readonly pending: Promise<GzipBlockResult>[] = [];
  /** Block buffers back from the workers, reused so a long stream allocates no new ones. */
  private readonly spare: ArrayBuffer[] = [];
  private readonly reuseMembers: boolean;
  /** The size of a stored member's buffer: enough for a whole block. */
  private readonly memberBytes: number;
  /** Buffers to lend for stored members. */
  private readonly spareMembers: ArrayBuffer[] = [];
  /** Stored members pushed out, by buffer, with their length: only that very view is taken back. */
  private readonly lent = new WeakMap<ArrayBuffer, number>();
  private block: Buffer;
  private filled = 0;
  private submitted = 0;

  constructor(options: ParallelGzipOptions = {}) {
    super();
    this.level = options.level ?? DEFAULT_GZIP_LEVEL;
    this.storeIncompressible = options.storeIncompressible ?? true;
    this.blockSize = options.blockSize ?? DEFAULT_GZIP_BLOCK_SIZE;
    this.pool = options.pool ?? gzipWorkerPool(options.workers);
    this.recycle = options.recycle;
    this.reuseMembers = options.reuseMembers ?? false;
    this.inFlight = Math.max(1, options.inFlight ?? this.pool.size * 4);
    if (!Number.isInteger(this.level) || this.level < 0 || this.level > 9) throw new RangeError(`gzip level ${this.level} is not 0-9`);
    if (!Number.isInteger(this.blockSize) || this.blockSize < 1) throw new RangeError(`gzip block size ${this.blockSize} is not positive`);
    this.block = Buffer.allocUnsafeSlow(this.blockSize);
    this.memberBytes = storedMemberBytes(this.blockSize);
  }

  /**
   * Takes back a member pushed out earlier once nothing reads it any more (reuseMembers). Only a
   * stored member's whole view counts; anything else is ignored, left to the GC.
   */
  giveBack(chunk: Uint8Array): void {
    if (!this.wantsBack(chunk)) return;
    this.lent.delete(chunk.buffer as ArrayBuffer);
    this.keepMemberBuffer(chunk.buffer as ArrayBuffer);
  }

  /** Whether giveBack would take this chunk: a stored member's whole view, pushed out and not yet given back. */
  wantsBack(chunk: Uint8Array): boolean {
    return chunk.byteOffset === 0 && this.lent.get(chunk.buffer as ArrayBuffer) === chunk.length;
  }

  private keepMemberBuffer(buffer: ArrayBuffer): void {
    if (this.spareMembers.length < KEPT_MEMBER_BUFFERS && buffer.byteLength >= this.memberBytes) this.spareMembers.push(buffer);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.append(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    // An empty input still becomes one (empty) member: a gzip file has at least one.
    if (this.filled > 0 || this.submitted === 0) this.submit();
    this.writeCompleted(0).then(() => callback(), callback);
  }

  private async append(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(this.blockSize - this.filled, chunk.length - offset);
      chunk.copy(this.block, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (offset === chunk.length) this.recycle?.(chunk); // copied whole: its buffer may be read into again
      if (this.filled === this.blockSize) {
        this.submit();
        await this.writeCompleted(this.inFlight - 1);
      }
    }
  }

  /** Hands the current block to the pool (its memory moves to the worker) and starts a new one. */
  private submit(): void {
    const output = this.reuseMembers ? this.spareMembers.pop() : undefined;
    const member = this.pool.gzip(this.block.buffer as ArrayBuffer, this.filled, {
      level: this.level,
      storeIncompressible: this.storeIncompressible,
      outputBytes: this.memberBytes,
      ...(output ? { output } : {}),
    });
    member.catch(() => {}); // observed when written; this keeps an early failure from being "unhandled"
    this.pending.push(member);
    this.submitted++;
    const reused = this.spare.pop();
    this.block = reused === undefined ? Buffer.allocUnsafeSlow(this.blockSize) : Buffer.from(reused);
    this.filled = 0;
  }

  /** Writes finished members in order until at most `limit` are still compressing. */
  private async writeCompleted(limit: number): Promise<void> {
    while (this.pending.length > limit) {
      const { member, input, stored, spare } = await this.pending.shift()!;
      this.spare.push(input);
      if (spare) this.keepMemberBuffer(spare);
      if (stored && this.reuseMembers) this.lent.set(member.buffer as ArrayBuffer, member.length);
      member[GZIP_OS_OFFSET] = GZIP_OS_UNIX;
      this.push(member);
    }
  }
}
