// Uploads that start while a blob is still being written. A layer the build is compressing is
// followed from its first bytes and sent as the body of one PATCH (chunked transfer encoding, as
// docker and containers/image push); its digest, known only at the end, goes in the closing PUT.
// So a big layer's upload overlaps its compression, and the push that comes after finds it done.
//
// It is only ever a head start, never the one way a blob reaches the registry: a blob smaller than
// EARLY_MIN_BYTES is left to the push (HEAD, mount or one request); a blob the registry turns out to hold
// already (or that a remembered repository can lend by mount) stops being sent once its digest is
// known; and any failure is dropped quietly, leaving the push to send the blob the ordinary way,
// with its retries and resumes. The manifest, and so the tag, is only ever written by the push.
import { PassThrough, type Readable } from "node:stream";
import { ImagespecError } from "../errors.js";
import type { Reference } from "../reference/index.js";
import type { BlobLocations } from "./blob-locations.js";
import type { DistributionClient } from "./client.js";
import type { BlobOutcome } from "./push.js";
import { acceptedPatch, finish, openSession, pushScopes } from "./upload.js";

/** A blob being written: its bytes as they land, and its descriptor once complete (see layer's GrowingBlob). */
export interface GrowingSource {
  /** Its bytes from the start, `readSize` at a time, following the writer; opened at once, before the blob is complete. */
  open(readSize?: number): Readable;
  readonly done: Promise<{ readonly digest: string; readonly size: number }>;
}

/** A blob that has not reached this size by its end is left to the push: a head start would not pay. */
export const EARLY_MIN_BYTES = 4 << 20;

/** Pieces read from the growing file and written to the request body. */
const READ_SIZE = 1 << 20;

interface Entry {
  readonly registry: string;
  readonly repository: string;
  /** Set as soon as the blob is complete, so a push can match it without waiting. */
  digest?: string;
  readonly outcome: Promise<BlobOutcome | undefined>;
}

export interface EarlyUploadOptions {
  /** Run before the first request to the repository (the registry's beforePush: a vendor may create it). */
  readonly beforeUpload?: () => Promise<void>;
  readonly locations?: BlobLocations;
}

/** Outcomes kept for a push to take; older ones are forgotten (a push then finds the blob by its HEAD). */
const MAX_ENTRIES = 256;

/** The early uploads of one registry client set, matched by the push of the image that holds them. */
export class EarlyUploads {
  private readonly entries: Entry[] = [];
  private readonly running = new Set<AbortController>();

  /** Starts following `blob` to `ref`'s repository (until `signal` or close()); never throws, never rejects. */
  start(client: DistributionClient, ref: Reference, blob: GrowingSource, options: EarlyUploadOptions = {}, signal?: AbortSignal): void {
    const source = blob.open(READ_SIZE);
    // A failed compression reaches this stream too; the upload learns of it from `done`, and an
    // 'error' nobody listens to would end the process.
    source.on("error", () => undefined);
    const stop = new AbortController();
    const onAbort = (): void => stop.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) stop.abort(signal.reason);
    this.running.add(stop);
    const outcome = uploadGrowing(client, ref, source, blob.done, { ...options, signal: stop.signal })
      .catch(() => undefined)
      .finally(() => {
        this.running.delete(stop);
        signal?.removeEventListener("abort", onAbort);
      });
    const entry: Entry = { registry: ref.registry, repository: ref.repository, outcome };
    blob.done.then(
      (descriptor) => (entry.digest = descriptor.digest),
      () => undefined,
    );
    this.entries.push(entry);
    if (this.entries.length > MAX_ENTRIES) this.entries.shift();
    // One that came to nothing has nothing to tell a push.
    void outcome.then((result) => {
      if (result === undefined) this.remove(entry);
    });
  }

  /**
   * What became of the early upload of `digest` to the repository, waiting for it if it is still
   * sending (until `signal`): "uploaded" or "exists", or undefined when there was none or it gave
   * up. Each is reported once. The push still checks that the registry has the blob.
   */
  async take(registry: string, repository: string, digest: string, signal?: AbortSignal): Promise<BlobOutcome | undefined> {
    const entry = this.entries.find((e) => e.digest === digest && e.registry === registry && e.repository === repository);
    if (!entry) return undefined;
    this.remove(entry);
    if (!signal) return entry.outcome;
    signal.throwIfAborted();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason as Error);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([entry.outcome, aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort!);
    }
  }

  /** Stops every upload still running (the process is closing the registry). */
  close(): void {
    for (const stop of this.running) stop.abort(new Error("the registry was closed"));
  }

  private remove(entry: Entry): void {
    const at = this.entries.indexOf(entry);
    if (at >= 0) this.entries.splice(at, 1);
  }
}

async function uploadGrowing(
  client: DistributionClient,
  ref: Reference,
  source: Readable,
  complete: GrowingSource["done"],
  options: EarlyUploadOptions & { signal: AbortSignal },
): Promise<BlobOutcome | undefined> {
  const { repository } = ref;
  const log = (outcome: "uploaded" | "exists" | "stopped" | "dropped", reason?: string): void =>
    client.logger?.({ type: "early-upload", repository: `${ref.registry}/${repository}`, outcome, ...(reason !== undefined ? { reason } : {}) });
  // Nothing is asked of the registry until EARLY_MIN_BYTES are there: a small blob is the push's.
  const first = await readAtLeast(source, EARLY_MIN_BYTES);
  if (first.ended) return undefined;
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  let location: URL | undefined;
  let found: "exists" | undefined;
  // Once the digest is known: the registry may have the blob already, or a remembered repository
  // may lend it by mount. Either way sending it is wasted; stop and let the push decide.
  const check = complete.then(async ({ digest }) => {
    try {
      if (await client.hasBlob(repository, digest, pushScopes(repository), signal)) {
        found = "exists";
        stop.abort();
      } else if (((await options.locations?.repositories(ref.registry, digest)) ?? []).some((r) => r !== repository)) {
        stop.abort();
      }
    } catch {
      // Cannot tell: go on sending; the push's own check comes after.
    }
  });
  let failed = false;
  check.catch(() => (failed = true)); // a failed compression (also seen where the upload reads)
  try {
    await options.beforeUpload?.();
    // The compression may have failed meanwhile: then there is nothing to send.
    if (failed) throw new Error("the layer's compression failed");
    const session = await openSession(client, repository, signal);
    location = session.location;
    const res = await client.send(
      { method: "PATCH", url: location, headers: { "content-type": "application/octet-stream" }, body: prefixed(first.chunks, source), signal },
      pushScopes(repository),
    );
    location = await acceptedPatch(res, location);
    await check;
    if (stop.signal.aborted) throw new Error("stopped");
    const { digest } = await complete;
    await finish(client, repository, location, digest, undefined, signal);
    await options.locations?.add(ref.registry, digest, repository);
    log("uploaded");
    return "uploaded";
  } catch (error) {
    if (!source.destroyed) source.destroy(); // let go of the file now, not when the layer is done
    await check.catch(() => undefined);
    // Closing or cancelled: the registry expires the session by itself; do not hold the exit up.
    if (location && !options.signal.aborted) await cancel(client, repository, location);
    if (found) log(found);
    else if (stop.signal.aborted && !options.signal.aborted) log("stopped", "another repository can lend it by mount");
    else log("dropped", error instanceof ImagespecError ? error.code : error instanceof Error ? error.name : "error");
    return found;
  } finally {
    if (!source.destroyed) source.destroy();
  }
}

/** Reads until `bytes` have come (or the stream ended): the chunks read, and whether it ended. */
async function readAtLeast(stream: Readable, bytes: number): Promise<{ chunks: Buffer[]; ended: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = await nextChunk(stream);
    if (chunk === null) return { chunks, ended: true };
    chunks.push(chunk);
    total += chunk.length;
    if (total >= bytes) return { chunks, ended: false };
  }
}

function nextChunk(stream: Readable): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) return resolve(chunk);
    if (stream.readableEnded) return resolve(null);
    const onReadable = (): void => {
      cleanup();
      resolve(nextChunk(stream));
    };
    const onEnd = (): void => {
      cleanup();
      resolve(null);
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      stream.off("readable", onReadable);
      stream.off("end", onEnd);
      stream.off("error", onError);
    };
    stream.on("readable", onReadable);
    stream.on("end", onEnd);
    stream.on("error", onError);
  });
}

/**
 * The chunks already read, then the rest of the stream, as a fresh stream (the transport may send
 * one not yet read again). Piped, the rest flows a chunk at a time as it was pushed. (Iterated with
 * for await it did not: a paused byte stream's read() joins all it holds into a new buffer, and the
 * growing file's reader hands over 1 MiB in pieces, so that was 1 GiB copied into new memory for
 * a 1 GiB layer, each page of it a fault on this project's VM.)
 */
export function prefixed(head: readonly Buffer[], rest: Readable): Readable {
  const body = new PassThrough();
  for (const chunk of head) body.write(chunk);
  rest.on("error", (error) => body.destroy(error));
  rest.pipe(body);
  return body;
}

/** Best effort: tell the registry the session is abandoned (it would expire it anyway). */
async function cancel(client: DistributionClient, repository: string, location: URL): Promise<void> {
  try {
    const res = await client.send({ method: "DELETE", url: location, signal: AbortSignal.timeout(5_000) }, pushScopes(repository));
    await res.discard();
  } catch {
    // The registry forgets abandoned sessions by itself.
  }
}
