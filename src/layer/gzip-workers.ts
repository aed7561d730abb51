// A small pool of worker threads that each turn one block of bytes into one gzip member.
// zlib's one-shot gzip on a worker is the unit of parallelism: blocks are independent, so
// any number of workers, in any scheduling, yields the same members.
//
// The worker's code is plain JavaScript given to the Worker as source text: it has no imports
// of ours, so it runs the same from TypeScript (tsx) and from the compiled dist/ without a
// second entry file to locate. Idle workers are unref'd, so a pool never keeps the process alive.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

export interface GzipBlockOptions {
  level: number;
  /** Store blocks whose samples do not compress (see below); part of what decides the bytes. */
  storeIncompressible?: boolean;
  /**
   * A buffer lent for the member if the block is stored (transferred, like the input; handed back
   * as the member's buffer, or as `spare`); without one, the worker makes one. Never changes the bytes.
   */
  output?: ArrayBuffer;
  /** The size of a buffer the worker makes for a stored member (default: just enough for this block). */
  outputBytes?: number;
}

/** The incompressible-block test; changing any number changes the output bytes. */
export const INCOMPRESSIBLE_TEST = { samples: 8, sampleBytes: 2048, minBlock: 128 * 1024, storedRatio: 0.98, firstRatio: 0.9 } as const;

// Incompressible blocks (random bytes, already-compressed files) cost as much CPU to deflate at
// level 6 as text and come out a little larger than they went in. So before a block is
// deflated, samples spread over it are deflated at level 1; when they do not shrink, the block
// is stored (written as zlib's level 0 would write it), about 20x cheaper. The first sample goes
// alone first: when it shrinks well the block is deflated without the other seven. Samples are 2 KiB: deflating eight of
// 8 KiB cost 1.2 ms per 1 MiB block, over a second of CPU for a 1 GiB random layer; eight of
// 2 KiB, at the same places, cost 0.23 ms and decide the same on text, random and random with a
// text tail. The test reads only the block, so the bytes still depend only on the input, the
// level and the block size.
/** Bytes of one stored deflate block at most (its LEN field is 16 bits). */
const STORED_BLOCK_MAX = 65535;

const WORKER_SOURCE = `
const { isMarkedAsUntransferable, parentPort } = require("node:worker_threads");
const { crc32, deflateRawSync, gzipSync } = require("node:zlib");
const SAMPLES = ${INCOMPRESSIBLE_TEST.samples};
const SAMPLE_BYTES = ${INCOMPRESSIBLE_TEST.sampleBytes};
const sample = Buffer.allocUnsafeSlow(SAMPLES * SAMPLE_BYTES);
function incompressible(data) {
  if (data.length < ${INCOMPRESSIBLE_TEST.minBlock}) return false;
  if (deflateRawSync(data.subarray(0, SAMPLE_BYTES), { level: 1 }).length < SAMPLE_BYTES * ${INCOMPRESSIBLE_TEST.firstRatio}) return false;
  const step = Math.floor((data.length - SAMPLE_BYTES) / (SAMPLES - 1));
  for (let i = 0; i < SAMPLES; i++) sample.set(data.subarray(i * step, i * step + SAMPLE_BYTES), i * SAMPLE_BYTES);
  return deflateRawSync(sample, { level: 1 }).length >= sample.length * ${INCOMPRESSIBLE_TEST.storedRatio};
}
const STORED_MAX = ${STORED_BLOCK_MAX};
// A gzip member of stored deflate blocks (RFC 1952 around RFC 1951's BTYPE 00), written into
// \`output\` from offset 0, so a random layer's members need no new memory (new memory costs a
// page fault per 4 KiB on this project's VM). The bytes are those zlib's level 0 writes with an
// output chunk bigger than the member (as below): its header (XFL 4, OS 3), blocks of STORED_MAX
// bytes but the last, its trailer. A test holds the two equal; layers made before stay the same.
function storedMember(data, output) {
  const view = new Uint8Array(output);
  view.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3], 0);
  let at = 10;
  let from = 0;
  do {
    const n = Math.min(STORED_MAX, data.length - from);
    const last = from + n === data.length;
    view[at] = last ? 1 : 0;
    view[at + 1] = n & 0xff;
    view[at + 2] = n >>> 8;
    view[at + 3] = ~n & 0xff;
    view[at + 4] = (~n >>> 8) & 0xff;
    view.set(data.subarray(from, from + n), at + 5);
    at += 5 + n;
    from += n;
  } while (from < data.length);
  const tail = new DataView(output, at, 8);
  tail.setUint32(0, crc32(data), true);
  tail.setUint32(4, data.length, true);
  return at + 8;
}
parentPort.on("message", ({ id, input, length, level, storeIncompressible, output, outputBytes }) => {
  try {
    const data = new Uint8Array(input, 0, length);
    if (level > 0 && storeIncompressible && incompressible(data)) {
      const into = output !== undefined && output.byteLength >= outputBytes ? output : new ArrayBuffer(outputBytes);
      const outputLength = storedMember(data, into);
      parentPort.postMessage({ id, input, output: into, outputLength, stored: true }, [input, into]);
      return;
    }
    // One output chunk large enough for any block (deflate grows incompressible data by well
    // under 1/1000), so the member is usually that chunk itself and moves without a copy. zlib
    // cuts stored blocks by the output space it has, so this size is part of the stored bytes:
    // it depends on the block's length only.
    const chunkSize = Math.max(length + (length >> 10) + 1024, 16384);
    const member = gzipSync(data, { level, windowBits: 15, memLevel: 8, strategy: 0, chunkSize });
    // A small member may come from node's shared buffer pool (64 KiB on node 24), which must not
    // be transferred: node marks it, so ask instead of guessing from sizes. A member that fills
    // less than a quarter of its chunk is copied out instead: a 2 KiB member of zeros must not keep
    // its 1 MiB chunk alive downstream (text, at 0.4, is not worth a copy).
    const own = member.byteOffset === 0 && !isMarkedAsUntransferable(member.buffer) && member.length * 4 >= member.buffer.byteLength;
    const made = own ? member.buffer : new Uint8Array(member).buffer;
    // The input goes back too, so the caller can reuse it for a later block; so does a lent
    // output this member did not use.
    if (output === undefined) parentPort.postMessage({ id, input, output: made, outputLength: member.length, stored: false }, [input, made]);
    else parentPort.postMessage({ id, input, output: made, outputLength: member.length, stored: false, spare: output }, [input, made, output]);
  } catch (error) {
    parentPort.postMessage({ id, input, error: String((error && error.message) || error) }, [input]);
  }
});
`;

/** A compressed member, and the input buffer handed back for reuse. */
export interface GzipBlockResult {
  member: Buffer;
  input: ArrayBuffer;
  /** The member is stored blocks written into an output buffer of storedMemberBytes(block size) (lent, or made so). */
  stored: boolean;
  /** A lent output buffer the member did not need (it was deflated), handed back. */
  spare?: ArrayBuffer;
}

/** The size of a gzip member of stored blocks holding `length` bytes: header, block headers, data, trailer. */
export function storedMemberBytes(length: number): number {
  return 10 + 5 * Math.max(1, Math.ceil(length / STORED_BLOCK_MAX)) + length + 8;
}

interface Job {
  id: number;
  input: ArrayBuffer;
  length: number;
  level: number;
  storeIncompressible: boolean;
  /** Lent for a stored member (see GzipBlockOptions.output). */
  output: ArrayBuffer | undefined;
  outputBytes: number;
  resolve(result: GzipBlockResult): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  /** Jobs posted to this worker, oldest first; it answers them in order. */
  jobs: Job[];
}

/**
 * Jobs posted to one worker ahead of time. With one, a worker that finishes waits for the main
 * thread to see its answer and post the next block; on a loaded machine the main thread may not
 * run for tens of milliseconds, and the workers sat idle (0.3 cores busy under load 12). With
 * two, the next block is already in the worker's queue.
 */
const JOBS_PER_WORKER = 2;

type WorkerReply = { id: number; input: ArrayBuffer } & ({ output: ArrayBuffer; outputLength: number; stored: boolean; spare?: ArrayBuffer } | { error: string });

export class GzipWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;

  constructor(readonly size: number) {}

  /**
   * Compresses `length` bytes of `input` into one gzip member. The ArrayBuffer is transferred
   * to the worker (no copy) and comes back with the result; until then the caller must not
   * touch it.
   */
  gzip(input: ArrayBuffer, length: number, options: GzipBlockOptions): Promise<GzipBlockResult> {
    if (this.closed) return Promise.reject(new Error("gzip worker pool is closed"));
    return new Promise((resolve, reject) => {
      const { output, outputBytes = storedMemberBytes(length) } = options;
      this.queue.push({ id: this.nextId++, input, length, level: options.level, storeIncompressible: options.storeIncompressible ?? false, output, outputBytes, resolve, reject });
      this.dispatch();
    });
  }

  /** Stops the workers; jobs still queued or running fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error("gzip worker pool closed"));
    const slots = this.slots.splice(0);
    for (const slot of slots) for (const job of slot.jobs.splice(0)) job.reject(new Error("gzip worker pool closed"));
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => s.jobs.length === 0) ?? this.spawn() ?? this.leastBusy();
      if (slot === undefined) return;
      const job = this.queue.shift()!;
      slot.jobs.push(job);
      slot.worker.ref();
      const { id, input, length, level, storeIncompressible, output, outputBytes } = job;
      slot.worker.postMessage({ id, input, length, level, storeIncompressible, output, outputBytes }, output ? [input, output] : [input]);
    }
  }

  private spawn(): Slot | undefined {
    if (this.slots.length >= this.size) return undefined;
    // execArgv: [] keeps loaders such as tsx out of the worker, which needs none.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    const slot: Slot = { worker, jobs: [] };
    worker.on("message", (reply: WorkerReply) => this.settle(slot, reply));
    worker.on("error", (error) => this.retire(slot, error));
    worker.on("exit", (code) => this.retire(slot, new Error(`gzip worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  /** The worker with the fewest jobs, if one can take another. */
  private leastBusy(): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of this.slots) if (slot.jobs.length < JOBS_PER_WORKER && (best === undefined || slot.jobs.length < best.jobs.length)) best = slot;
    return best;
  }

  private settle(slot: Slot, reply: WorkerReply): void {
    const job = slot.jobs[0];
    if (job === undefined || job.id !== reply.id) return;
    slot.jobs.shift();
    if (slot.jobs.length === 0) slot.worker.unref();
    if ("error" in reply) job.reject(new Error(`gzip worker: ${reply.error}`));
    else job.resolve({ member: Buffer.from(reply.output, 0, reply.outputLength), input: reply.input, stored: reply.stored, ...(reply.spare ? { spare: reply.spare } : {}) });
    this.dispatch();
  }

  /** A worker that crashed fails its jobs and is replaced on the next dispatch. */
  private retire(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index === -1) return;
    this.slots.splice(index, 1);
    for (const job of slot.jobs.splice(0)) job.reject(error);
    if (!this.closed) this.dispatch();
  }
}

const pools = new Map<number, GzipWorkerPool>();

/** The process-wide pool with `size` workers (default: one per available core). */
export function gzipWorkerPool(size: number = availableParallelism()): GzipWorkerPool {
  const count = Math.max(1, Math.floor(size));
  let pool = pools.get(count);
  if (pool === undefined) {
    pool = new GzipWorkerPool(count);
    pools.set(count, pool);
  }
  return pool;
}

/** Terminates every shared gzip worker (they are unref'd when idle, so this is rarely needed). */
export async function closeGzipWorkers(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((pool) => pool.close()));
}
