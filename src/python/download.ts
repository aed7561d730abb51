// Fetching the resolved wheels into a content-addressed cache, `<cache>/wheels/sha256/<hex>`:
// each file is hashed while it streams to a temp name, checked against the hash the index
// published, and only then renamed into place, so whatever sits under its digest is that
// content. A wheel already there is not fetched again.
//
// Resolvers drop credentials from the URLs they report; a wheel on the same origin as a
// configured index gets that index's credentials back (as HTTP Basic), and they never reach a
// message or another host.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { fileURLToPath } from "node:url";
import { EnvHttpProxyAgent, fetch, type Dispatcher } from "undici";
import { mapLimited } from "../concurrency.js";
import { DigestingStream } from "../oci/index.js";
import { fileDigest } from "../spec/tree-digest.js";
import { PythonError, redactUrl } from "./errors.js";
import type { ResolvedWheel } from "./resolution.js";

export interface DownloadOptions {
  /** Root of imagespec's cache; wheels go to `<cacheDir>/wheels/sha256/<hex>`. */
  readonly cacheDir: string;
  /** Wheels fetched at once (default 4). */
  readonly concurrency?: number;
  /** Index URLs as configured, credentials included: a wheel URL on one of their origins is fetched with them. */
  readonly indexUrls?: readonly string[];
  /** Attempts per wheel for transient failures (default 3). */
  readonly attempts?: number;
  readonly signal?: AbortSignal;
  /** Told when a damaged cached wheel is dropped (and fetched again). */
  readonly warn?: (message: string) => void;
  /** Each wheel's transfer: started (request sent), bytes so far, done (or found in the cache). */
  readonly onProgress?: (progress: DownloadProgress) => void;
}

/** One wheel's transfer, for progress views: start (request sent), bytes (from 0; again from 0 when a retry starts over), done. */
export type DownloadProgress =
  | { readonly kind: "start"; readonly filename: string }
  | { readonly kind: "bytes"; readonly filename: string; readonly bytes: number; readonly size?: number }
  | { readonly kind: "done"; readonly filename: string; readonly size: number; readonly fromCache: boolean };

export interface DownloadedWheel extends ResolvedWheel {
  /** Host path of the cached file. */
  readonly path: string;
  /** Hex sha256 of the file (the published one when there was one, checked). */
  readonly sha256: string;
  readonly size: number;
  readonly fromCache: boolean;
}

export function wheelCachePath(cacheDir: string, sha256: string): string {
  return join(cacheDir, "wheels", "sha256", sha256);
}

export async function downloadWheels(wheels: readonly ResolvedWheel[], options: DownloadOptions): Promise<DownloadedWheel[]> {
  // The first failure cancels the downloads still running (through the signal each one gets).
  return mapLimited(wheels, options.concurrency ?? 4, (wheel, signal) => downloadWheel(wheel, { ...options, signal }), { signal: options.signal });
}

export async function downloadWheel(wheel: ResolvedWheel, options: DownloadOptions): Promise<DownloadedWheel> {
  const expected = wheel.sha256?.toLowerCase();
  if (expected !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(expected)) {
      throw new PythonError("WHEEL_HASH_MISMATCH", `${wheel.filename}: the published sha256 ${JSON.stringify(wheel.sha256)} is not a sha256`);
    }
    const path = wheelCachePath(options.cacheDir, expected);
    const cached = await sizeOf(path);
    if (cached !== undefined) {
      // A cached wheel is checked before use: a damaged one is dropped and fetched again, not used.
      const actual = await fileSha256(path);
      if (actual === expected) {
        options.onProgress?.({ kind: "done", filename: wheel.filename, size: cached, fromCache: true });
        return { ...wheel, path, sha256: expected, size: cached, fromCache: true };
      }
      await rm(path, { force: true });
      options.warn?.(`cached wheel ${path} has sha256 ${actual ?? "(unreadable)"}, expected ${expected}: the local cache entry is damaged; removed it, downloading ${wheel.filename} again`);
    }
  }
  const attempts = Math.max(1, options.attempts ?? 3);
  for (let attempt = 1; ; attempt++) {
    try {
      const downloaded = await fetchIntoCache(wheel, expected, options);
      options.onProgress?.({ kind: "done", filename: wheel.filename, size: downloaded.size, fromCache: false });
      return downloaded;
    } catch (error) {
      if (!(error instanceof TransientError) || attempt >= attempts) throw error instanceof TransientError ? error.final : error;
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
    }
  }
}

async function fetchIntoCache(wheel: ResolvedWheel, expected: string | undefined, options: DownloadOptions): Promise<DownloadedWheel> {
  const tempDir = join(options.cacheDir, "wheels", "tmp");
  await mkdir(tempDir, { recursive: true });
  const temp = join(tempDir, `${randomBytes(8).toString("hex")}.part`);
  const hasher = new DigestingStream();
  try {
    // Announced before the request: a slow index shows as a transfer at 0 bytes, not as nothing.
    options.onProgress?.({ kind: "start", filename: wheel.filename });
    const source = await openSource(wheel, options);
    await pipeline(source.stream, countBytes(wheel.filename, source.size, options.onProgress), hasher, createWriteStream(temp));
    const actual = hasher.digest.slice("sha256:".length);
    if (expected !== undefined && actual !== expected) {
      throw new PythonError("WHEEL_HASH_MISMATCH", `${wheel.filename} from ${redactUrl(wheel.url)} has sha256 ${actual}, but the index published ${expected}`, {
        hint: "the file changed on the index or was altered in transit; it was not used. If the index is yours, republish the wheel or refresh the resolution (refresh: true)",
      });
    }
    const path = wheelCachePath(options.cacheDir, actual);
    await mkdir(join(path, ".."), { recursive: true });
    await rename(temp, path);
    return { ...wheel, path, sha256: actual, size: hasher.size, fromCache: false };
  } catch (error) {
    if (error instanceof PythonError || error instanceof TransientError) throw error;
    throw new TransientError(
      new PythonError("WHEEL_DOWNLOAD_FAILED", `cannot download ${wheel.filename} from ${redactUrl(wheel.url)}: ${(error as Error).message}`, {
        hint: "check that the index is reachable from this machine",
        cause: error,
      }),
    );
  } finally {
    await rm(temp, { force: true });
  }
}

/** A failure worth retrying; `final` is what the caller sees when the attempts run out. */
class TransientError extends Error {
  constructor(readonly final: PythonError) {
    super(final.message);
  }
}

/**
 * A pass-through that reports the bytes that went through it: 0 first (with the size when known),
 * then about every MiB and at the end, so a view is not redrawn for every chunk.
 */
function countBytes(filename: string, size: number | undefined, onProgress: DownloadOptions["onProgress"]): Transform {
  const sized = size !== undefined ? { size } : {};
  onProgress?.({ kind: "bytes", filename, bytes: 0, ...sized });
  let bytes = 0;
  let reported = 0;
  const report = (): void => {
    reported = bytes;
    onProgress?.({ kind: "bytes", filename, bytes, ...sized });
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes - reported >= PROGRESS_STEP) report();
      callback(null, chunk);
    },
    flush(callback) {
      if (bytes !== reported) report();
      callback();
    },
  });
}

const PROGRESS_STEP = 1 << 20;

/** The wheel's bytes, with their size when it is known up front (a file, or a Content-Length). */
async function openSource(wheel: ResolvedWheel, options: DownloadOptions): Promise<{ stream: Readable; size?: number }> {
  const url = new URL(wheel.url);
  if (url.protocol === "file:") {
    const path = fileURLToPath(url);
    const size = await sizeOf(path);
    if (size === undefined) {
      throw new PythonError("WHEEL_DOWNLOAD_FAILED", `${wheel.filename}: ${wheel.url} is not a readable file`, {
        hint: "the local wheel was moved or deleted; refresh the resolution (refresh: true)",
      });
    }
    return { stream: createReadStream(path), size };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new PythonError("WHEEL_DOWNLOAD_FAILED", `${wheel.filename}: cannot fetch ${redactUrl(wheel.url)} (only http, https and file URLs)`);
  }
  const headers: Record<string, string> = { "user-agent": "imagespec" };
  const authorization = indexCredentialsFor(url, options.indexUrls ?? []);
  if (authorization !== undefined) headers.authorization = authorization;
  const response = await fetch(url, { headers, redirect: "follow", dispatcher: proxyDispatcher(), ...(options.signal ? { signal: options.signal } : {}) });
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    const failure = new PythonError("WHEEL_DOWNLOAD_FAILED", `cannot download ${wheel.filename} from ${redactUrl(wheel.url)}: HTTP ${response.status}`, {
      hint:
        response.status === 401 || response.status === 403
          ? "the index wants credentials: put them in the index URL (https://user:token@host/simple) of pipIndex or pipExtraIndexUrl"
          : "the file may have been removed from the index; refresh the resolution (refresh: true)",
    });
    if (response.status === 429 || response.status >= 500) throw new TransientError(failure);
    throw failure;
  }
  const length = Number(response.headers.get("content-length") ?? NaN);
  // A compressed transfer's length is not the file's.
  const size = Number.isSafeInteger(length) && length >= 0 && !response.headers.has("content-encoding") ? length : undefined;
  return { stream: Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), ...(size !== undefined ? { size } : {}) };
}

/** `Basic ...` for a URL on the origin of an index URL that carries credentials. */
export function indexCredentialsFor(url: URL, indexUrls: readonly string[]): string | undefined {
  for (const index of indexUrls) {
    let parsed: URL;
    try {
      parsed = new URL(index);
    } catch {
      continue;
    }
    if (parsed.origin !== url.origin || (parsed.username === "" && parsed.password === "")) continue;
    const user = decodeURIComponent(parsed.username);
    const password = decodeURIComponent(parsed.password);
    return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  }
  return undefined;
}

let sharedDispatcher: Dispatcher | undefined;

/** Honours HTTP(S)_PROXY and NO_PROXY like pip does; every request to a package index goes through it. */
export function proxyDispatcher(): Dispatcher {
  sharedDispatcher ??= new EnvHttpProxyAgent();
  return sharedDispatcher;
}


/** The hex sha256 of a file; undefined when it cannot be read. */
async function fileSha256(path: string): Promise<string | undefined> {
  return (await fileDigest(path).catch(() => undefined))?.slice("sha256:".length);
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}
