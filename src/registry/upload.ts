// Blob uploads, three ways the distribution spec allows: monolithic (POST, then PUT with the
// bytes: small blobs), streamed (one PATCH carrying the whole stream, then PUT: the default for
// large blobs), and chunked (PATCHes with Content-Range of at least the registry's minimum chunk,
// resuming from the Range it reports). The content is verified against the descriptor while it
// flows; a mismatch aborts before the closing PUT, so the registry never accepts bad bytes.
// A session that failed part-way can be resumed: the registry is asked (GET on the upload URL)
// how many bytes it holds, and only the rest is sent; the bytes before that are still read and
// verified, so the digest check covers the whole blob.
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { ImagespecError } from "../errors.js";
import { DigestingStream, DigestMismatchError, sha256, type Blob } from "../oci/index.js";
import type { DistributionClient } from "./client.js";
import { errorCode, RegistryError } from "./errors.js";
import { resolveLocation, type HttpResponse } from "./transport.js";
import { repositoryScope } from "./scope.js";

export type UploadMode = "auto" | "monolithic" | "streaming" | "chunked";

export interface UploadSettings {
  /** `auto` (default): monolithic up to `monolithicMaxBytes`, streamed above it. */
  readonly mode?: UploadMode;
  /** Default 1 MiB. */
  readonly monolithicMaxBytes?: number;
  /** PATCH size in chunked mode (default 5 MiB, the smallest some registries accept); raised to the registry's OCI-Chunk-Min-Length. */
  readonly chunkSize?: number;
  /**
   * Start uploading a layer while the build is still compressing it, as one streamed PATCH
   * (early-upload.ts). Default true, and only in the auto mode; off, the push sends each blob after the build.
   */
  readonly whileWriting?: boolean;
}

export const DEFAULT_MONOLITHIC_MAX = 1 << 20;
export const DEFAULT_CHUNK_SIZE = 5 << 20;

/** The blob's own source failed (a file vanished, a generator threw) while it was being pushed. */
export class BlobReadError extends ImagespecError {
  /** True when reading the source again may succeed (it sent corrupted or truncated bytes). */
  readonly retryable: boolean;

  constructor(digest: string, cause: unknown, retryable = false) {
    super("BLOB_READ_FAILED", `reading blob ${digest} from its source failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      hint: "the content's source failed mid-push; nothing was tagged — fix the source and push again",
      cause,
    });
    this.retryable = retryable;
  }
}

/** A failure of the blob's source as the side it came from: a registry error says "source registry". */
function sourceFailure(digest: string, error: unknown): ImagespecError {
  if (error instanceof RegistryError) return error.onSide("source");
  // The source's own check (a registry blob verifies while it streams) found bad bytes: read it again.
  if (error instanceof DigestMismatchError) return new BlobReadError(digest, error, true);
  return error instanceof ImagespecError ? error : new BlobReadError(digest, error);
}

export interface UploadRequest {
  readonly client: DistributionClient;
  readonly repository: string;
  readonly blob: Blob;
  /**
   * An upload session already open (a declined mount returns one, a resumed upload another);
   * `offset` bytes of the blob are already in it.
   */
  readonly session?: UploadSession;
  readonly settings?: UploadSettings;
  /** Bytes of the blob read so far. */
  readonly onBytes?: (bytes: number) => void;
  /** The session's latest upload URL, each time it changes, so a failed upload can be resumed. */
  readonly onLocation?: (location: URL) => void;
  readonly signal?: AbortSignal;
}

export interface UploadSession {
  readonly location: URL;
  readonly minChunkLength?: number;
  /** Bytes the registry already holds (default 0). */
  readonly offset?: number;
}

/** Uploads one blob; returns once the registry has it under its digest. */
export async function uploadBlob(request: UploadRequest): Promise<void> {
  const { client, repository, blob, settings = {}, signal } = request;
  const session = request.session ?? (await openSession(client, repository, signal));
  const size = blob.descriptor.size;
  const offset = session.offset ?? 0;
  const mode = settings.mode ?? "auto";
  const monolithicMax = settings.monolithicMaxBytes ?? DEFAULT_MONOLITHIC_MAX;
  request.onLocation?.(session.location);
  const content = await VerifiedContent.open(blob, request.onBytes);
  try {
    let location: URL;
    if (offset === 0 && (mode === "monolithic" || (mode === "auto" && size <= monolithicMax))) {
      const bytes = await content.readAll();
      await finish(client, repository, session.location, blob.descriptor.digest, bytes, signal);
      return;
    }
    if (mode === "chunked") {
      const chunkSize = Math.max(settings.chunkSize ?? DEFAULT_CHUNK_SIZE, session.minChunkLength ?? 0);
      location = await sendChunks(client, repository, session.location, content, chunkSize, offset, request.onLocation, signal);
    } else {
      location = await sendStream(client, repository, session.location, content, size, offset, signal);
    }
    request.onLocation?.(location);
    await content.verified();
    await finish(client, repository, location, blob.descriptor.digest, undefined, signal);
  } finally {
    content.close();
  }
}

export async function openSession(client: DistributionClient, repository: string, signal?: AbortSignal): Promise<UploadSession> {
  const start = await client.startUpload(repository, signal ? { signal } : {});
  if (start.mounted) throw new ImagespecError("UPLOAD_INVALID", `${client.registry}: the registry reported a mount that was not asked for`, { hint: "the registry is not following the distribution spec; tell its operator" });
  return start;
}

export const pushScopes = (repository: string): string[] => [repositoryScope(repository, "pull", "push")];

/**
 * A PATCH's answer taken: 202 (some registries answer 201, or 204) is read to its end and the
 * session's next Location returned; anything else is the registry's error.
 */
export async function acceptedPatch(res: HttpResponse, location: URL): Promise<URL> {
  if (res.status !== 202 && res.status !== 201 && res.status !== 204) return res.fail({ expected: "202 Accepted" });
  await res.discard();
  return nextLocation(res.header("location"), location);
}

/** One PATCH with the whole stream (from `offset`, with its Content-Range, when resuming) as its body. */
async function sendStream(client: DistributionClient, repository: string, location: URL, content: VerifiedContent, size: number, offset: number, signal?: AbortSignal): Promise<URL> {
  const headers: Record<string, string> = { "content-type": "application/octet-stream", "content-length": String(size - offset) };
  if (offset > 0) headers["content-range"] = `${offset}-${size - 1}`;
  let res;
  try {
    res = await client.send(
      {
        method: "PATCH",
        url: location,
        headers,
        body: offset > 0 ? content.streamFrom(offset) : content.stream,
        ...(signal ? { signal } : {}),
      },
      pushScopes(repository),
    );
  } catch (error) {
    // More bytes than the descriptor's size: undici stops at Content-Length before our check runs.
    if (errorCode(error) === "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH" || errorCode((error as { cause?: unknown }).cause) === "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH") {
      throw content.failure() ?? new DigestMismatchError(`blob ${content.digest}`, content.digest, `(content longer than its size ${size})`);
    }
    throw content.failure() ?? error;
  }
  const failure = content.failure();
  if (failure) {
    await res.discard();
    throw failure;
  }
  return acceptedPatch(res, location);
}

/** PATCHes of `chunkSize` bytes with Content-Range, resending whatever the registry's Range says it did not keep. */
async function sendChunks(
  client: DistributionClient,
  repository: string,
  location: URL,
  content: VerifiedContent,
  chunkSize: number,
  startAt: number,
  onLocation: ((location: URL) => void) | undefined,
  signal?: AbortSignal,
): Promise<URL> {
  let offset = startAt;
  let current = location;
  const pending: Buffer[] = [];
  let pendingLength = 0;
  const flush = async (): Promise<void> => {
    let chunk = Buffer.concat(pending, pendingLength);
    pending.length = 0;
    pendingLength = 0;
    for (let tries = 0; chunk.length > 0; tries++) {
      if (tries >= 5) {
        throw new RegistryError({ method: "PATCH", url: current, code: "UPLOAD_STALLED", problem: `the registry keeps not accepting bytes from offset ${offset}`, hint: "retry the push; if it persists, use the streamed upload mode (the Registry option upload.mode \"streaming\")" });
      }
      const end = offset + chunk.length - 1;
      const res = await client.send(
        {
          method: "PATCH",
          url: current,
          headers: { "content-type": "application/octet-stream", "content-length": String(chunk.length), "content-range": `${offset}-${end}` },
          body: chunk,
          ...(signal ? { signal } : {}),
        },
        pushScopes(repository),
      );
      current = await acceptedPatch(res, current);
      onLocation?.(current);
      const accepted = acceptedLength(res.header("range")) ?? end + 1;
      if (accepted > end + 1 || accepted < offset) {
        throw new RegistryError({ method: "PATCH", url: current, code: "UPLOAD_INVALID", problem: `the registry reports range 0-${accepted - 1} after bytes ${offset}-${end}`, hint: "the registry lost track of the upload; push again" });
      }
      chunk = chunk.subarray(accepted - offset);
      offset = accepted;
    }
  };
  try {
    for await (const piece of startAt > 0 ? content.streamFrom(startAt) : content.stream) {
      pending.push(piece as Buffer);
      pendingLength += (piece as Buffer).length;
      if (pendingLength >= chunkSize) await flush();
    }
  } catch (error) {
    throw content.failure() ?? error;
  }
  if (pendingLength > 0) await flush();
  return current;
}

/**
 * Where a failed upload can go on: the registry's own account of the session (GET on its URL:
 * 204 with `Range: 0-N` and a fresh Location), or undefined when it holds nothing, no longer knows
 * the session (distribution cancels one whose stored size disagrees with the URL's state, as after
 * a PATCH that broke off mid-body) or answers anything else. Undefined means: start a new session.
 */
export async function resumableSession(client: DistributionClient, repository: string, location: URL, size: number, signal?: AbortSignal): Promise<UploadSession | undefined> {
  try {
    const res = await client.send({ method: "GET", url: location, ...(signal ? { signal } : {}) }, pushScopes(repository));
    await res.discard();
    if (res.status !== 204) return undefined;
    const held = acceptedLength(res.header("range"));
    // distribution says `0-0` for an empty session as well as for one byte: too little to tell.
    if (held === undefined || held <= 1 || held >= size) return undefined;
    return { location: nextLocation(res.header("location"), location), offset: held };
  } catch {
    return undefined;
  }
}

/** Closes the session: PUT `?digest=`, with the bytes for a monolithic upload. */
export async function finish(client: DistributionClient, repository: string, location: URL, digest: string, bytes: Buffer | undefined, signal?: AbortSignal): Promise<void> {
  const url = new URL(location);
  url.searchParams.set("digest", digest);
  const body = bytes ?? Buffer.alloc(0);
  const res = await client.send(
    { method: "PUT", url, headers: { "content-type": "application/octet-stream", "content-length": String(body.length) }, body, ...(signal ? { signal } : {}) },
    pushScopes(repository),
  );
  if (res.status !== 201 && res.status !== 204 && res.status !== 200) return res.fail({ expected: "201 Created" });
  await res.discard();
}

/** Location may be relative or absolute; it may also be left out, meaning "same place". */
function nextLocation(header: string | undefined, previous: URL): URL {
  return header ? resolveLocation(header, previous, "PATCH") : previous;
}

/** `Range: 0-1023` (or `bytes=0-1023`) -> 1024 bytes held. */
function acceptedLength(range: string | undefined): number | undefined {
  const match = /(\d+)-(\d+)/.exec(range ?? "");
  return match ? Number(match[2]) + 1 : undefined;
}

/**
 * The blob's stream with verification and byte counting, remembering which side failed:
 * the source (BlobReadError) or the content (DigestMismatchError), as opposed to the network.
 */
class VerifiedContent {
  private sourceError: unknown;
  private verifyError: unknown;

  private constructor(
    readonly digest: string,
    private readonly size: number,
    private readonly source: Readable,
    private readonly verifier: DigestingStream | ByteCounter,
    readonly stream: Readable,
    /** Settles when the source is done: true at its end (its own check passed), false otherwise. */
    private readonly sourceEnded: Promise<boolean>,
  ) {}

  static async open(blob: Blob, onBytes?: (bytes: number) => void): Promise<VerifiedContent> {
    const { digest, size } = blob.descriptor;
    let source: Readable;
    try {
      source = await blob.open();
    } catch (error) {
      throw sourceFailure(digest, error);
    }
    // A source that checks itself fails before its end on bad bytes: hashing again only costs CPU.
    const verifier = blob.verifiesItself ? new ByteCounter() : new DigestingStream({ digest, size, what: `blob ${digest}` });
    const counter = new ProgressStream(onBytes);
    const sourceEnded = new Promise<boolean>((resolve) => {
      source.once("end", () => resolve(true));
      source.once("close", () => resolve(false));
      source.once("error", () => resolve(false));
    });
    const content = new VerifiedContent(digest, size, source, verifier, counter, sourceEnded);
    // Wired by hand rather than with pipeline(): pipeline would destroy the source with the
    // network's error, and a network failure must not be mistaken for a broken source.
    source.on("error", (e) => {
      content.sourceError ??= e;
      verifier.destroy(e);
    });
    verifier.on("error", (e) => {
      if (e !== content.sourceError) content.verifyError ??= e;
      counter.destroy(e);
    });
    counter.on("close", () => {
      if (verifier instanceof ByteCounter && verifier.size === size && !source.readableEnded && !source.destroyed) {
        // Every byte went out and the registry answered before the source found its end (a file
        // needs one more read for that): let it get there, so its own check still decides.
        source.unpipe(verifier);
        source.resume();
      } else if (!source.destroyed) source.destroy();
      if (!verifier.destroyed) verifier.destroy();
    });
    source.pipe(verifier).pipe(counter);
    return content;
  }

  /**
   * The stream without its first `offset` bytes (already held by the registry). They are still
   * read and verified: the digest check is over the whole blob.
   */
  streamFrom(offset: number): Readable {
    let skip = offset;
    const rest = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (skip >= chunk.length) {
          skip -= chunk.length;
          return callback();
        }
        const tail = skip > 0 ? chunk.subarray(skip) : chunk;
        skip = 0;
        callback(null, tail);
      },
    });
    this.stream.on("error", (e) => rest.destroy(e));
    rest.on("close", () => {
      if (!this.stream.destroyed) this.stream.destroy();
    });
    return this.stream.pipe(rest);
  }

  /** Why the content itself failed, if it did. */
  failure(): ImagespecError | undefined {
    if (this.sourceError !== undefined) return sourceFailure(this.digest, this.sourceError);
    if (this.verifyError instanceof ImagespecError) return this.verifyError;
    return undefined;
  }

  /** Throws unless the whole stream was read and matched the descriptor. */
  async verified(): Promise<void> {
    const verifier = this.verifier;
    if (verifier instanceof ByteCounter) {
      // The source's own check decides, at its end, which comes just after its last byte.
      const ended = await this.sourceEnded;
      const failure = this.failure();
      if (failure) throw failure;
      if (!ended || verifier.size !== this.size) throw new DigestMismatchError(`blob ${this.digest}`, this.digest, "(upload ended before the content did)");
      return;
    }
    const failure = this.failure();
    if (failure) throw failure;
    if (verifier.writableFinished) {
      if (verifier.digest !== this.digest) throw new DigestMismatchError(`blob ${this.digest}`, this.digest, verifier.digest);
      return;
    }
    // A registry may answer as soon as it has every byte, before the source's end has been read:
    // then the bytes that went out decide.
    if (verifier.size !== this.size) throw new DigestMismatchError(`blob ${this.digest}`, this.digest, "(upload ended before the content did)");
    const sent = verifier.digestSoFar();
    if (sent !== this.digest) throw new DigestMismatchError(`blob ${this.digest}`, this.digest, sent);
  }

  /** The whole (small) content, verified. */
  async readAll(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of this.stream) chunks.push(chunk as Buffer);
    } catch (error) {
      throw this.failure() ?? error;
    }
    const bytes = Buffer.concat(chunks);
    await this.verified();
    if (sha256(bytes) !== this.digest) throw new DigestMismatchError(`blob ${this.digest}`, this.digest, sha256(bytes));
    return bytes;
  }

  close(): void {
    if (!this.source.destroyed) this.source.destroy();
    if (!this.stream.destroyed) this.stream.destroy();
  }
}

/** Counts what passes, for content whose source checks its own digest. */
class ByteCounter extends Transform {
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    callback(null, chunk);
  }
}

/** Counts bytes on their way to the registry, reporting about every MiB and at the end. */
class ProgressStream extends Transform {
  private total = 0;
  private reported = 0;

  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.total += chunk.length;
    if (this.onBytes && this.total - this.reported >= 1 << 20) {
      this.reported = this.total;
      this.onBytes(this.total);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.onBytes && this.total !== this.reported) this.onBytes(this.total);
    callback();
  }
}
