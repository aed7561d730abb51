// Buffers for reading file content into a layer, handed back once the compressor has copied them,
// so a 1 GiB file costs a few buffers instead of 1 GiB of new memory: new memory is what makes V8
// run a full garbage collection every 64 MB or so, and on a VM whose freed pages go back to the
// host, what costs a page fault per 4 KiB when touched again.
//
// Safe only where the chunks it makes pass straight to the one stream that gives them back (the
// tar stream, the diffID hash, the compressor that copies them): compressInto and remadeLayer wire
// exactly that.

/** Bytes per buffer: the tar's content reads. */
export const CHUNK_BYTES = 1 << 20;
/** Buffers kept for reuse; more in flight are simply made (and left to the GC). */
const KEPT = 16;

export class ChunkPool {
  private readonly free = new Set<ArrayBuffer>();
  /** Each buffer it made, and the length of the view last handed out of it. */
  private readonly issued = new WeakMap<ArrayBuffer, number>();
  private fresh = 0;

  /** A buffer of CHUNK_BYTES that no one else holds. */
  take(): Buffer {
    for (const buffer of this.free) {
      this.free.delete(buffer);
      return Buffer.from(buffer);
    }
    this.fresh++;
    const buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
    this.issued.set(buffer.buffer as ArrayBuffer, -1);
    return buffer;
  }

  /** The view of a taken buffer that goes out (from its start): only that very view is taken back. */
  issue(view: Buffer): Buffer {
    if (view.byteOffset === 0) this.issued.set(view.buffer as ArrayBuffer, view.length);
    return view;
  }

  /**
   * Takes back a chunk once its bytes were copied. Only the whole view it issued counts: a piece of
   * one (a stream that split it) or a buffer it did not make is ignored, left to the GC.
   */
  give(chunk: Uint8Array): void {
    const buffer = chunk.buffer as ArrayBuffer;
    if (chunk.byteOffset !== 0 || this.issued.get(buffer) !== chunk.length || this.free.size >= KEPT) return;
    this.issued.set(buffer, -1);
    this.free.add(buffer);
  }

  /** How many buffers it had to make. */
  get allocated(): number {
    return this.fresh;
  }
}
