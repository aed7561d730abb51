// Fetching from an apt archive: http(s) (proxy variables honoured) and file:// (a local mirror).
// Files named by a hash go to a content-addressed cache, `<cacheDir>/apt/sha256/<hex>`: streamed to
// a temp name while hashed, checked, then renamed into place, so whatever is under a hash is that
// content, and a file already there is not fetched again.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { fileURLToPath } from "node:url";
import { EnvHttpProxyAgent, fetch, type Dispatcher } from "undici";
import { DigestingStream } from "../oci/index.js";
import { AptError } from "./errors.js";

export interface FetchOptions {
  readonly signal?: AbortSignal;
  /** Attempts for transient failures (default 3). */
  readonly attempts?: number;
}

let sharedDispatcher: Dispatcher | undefined;
function dispatcher(): Dispatcher {
  sharedDispatcher ??= new EnvHttpProxyAgent();
  return sharedDispatcher;
}

class Transient extends Error {
  constructor(readonly final: AptError) {
    super(final.message);
  }
}

/** The URL's body, or undefined on 404 (so callers can try another name). */
async function open(url: string, options: FetchOptions): Promise<Readable | undefined> {
  const parsed = new URL(url);
  if (parsed.protocol === "file:") {
    const path = fileURLToPath(parsed);
    try {
      await stat(path);
    } catch {
      return undefined;
    }
    return createReadStream(path);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new AptError("APT_FETCH_FAILED", `cannot fetch ${url}: only http, https and file URLs are supported`);
  }
  let response;
  try {
    response = await fetch(parsed, { headers: { "user-agent": "imagespec" }, redirect: "follow", dispatcher: dispatcher(), ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    throw new Transient(new AptError("APT_FETCH_FAILED", `cannot fetch ${url}: ${(error as Error).message}`, { hint: "check that the Debian mirror is reachable from this machine", cause: error }));
  }
  if (response.status === 404 || response.status === 410) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    const failure = new AptError("APT_FETCH_FAILED", `cannot fetch ${url}: HTTP ${response.status}`, { hint: "check the mirror URL in the base's apt sources or the spec's apt mirror" });
    if (response.status === 429 || response.status >= 500) throw new Transient(failure);
    throw failure;
  }
  return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
}

async function withRetries<T>(options: FetchOptions, run: () => Promise<T>): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 3);
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof Transient)) throw error;
      if (attempt >= attempts || options.signal?.aborted) throw error.final;
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }
}

/** A small file (InRelease) in memory; undefined when the server has no such file. */
export async function fetchBytes(url: string, options: FetchOptions = {}): Promise<Buffer | undefined> {
  return withRetries(options, async () => {
    const body = await open(url, options);
    if (body === undefined) return undefined;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of body) chunks.push(chunk as Buffer);
    } catch (error) {
      throw new Transient(new AptError("APT_FETCH_FAILED", `cannot fetch ${url}: ${(error as Error).message}`, { cause: error }));
    }
    return Buffer.concat(chunks);
  });
}

export function hashCachePath(cacheDir: string, sha256: string): string {
  return join(cacheDir, "apt", "sha256", sha256);
}

export interface Expected {
  readonly sha256: string;
  readonly size?: number;
  /** What it is, for messages: `jq 1.6-2.1 (jq_1.6-2.1_amd64.deb)`. */
  readonly what: string;
}

/**
 * The cached file with this sha256, fetched from the first URL that has it when absent. A file of
 * another hash or size is an error (never used, never cached).
 */
export async function fetchByHash(urls: readonly string[], expected: Expected, cacheDir: string, options: FetchOptions = {}): Promise<{ path: string; fromCache: boolean }> {
  const sha = expected.sha256.toLowerCase();
  const path = hashCachePath(cacheDir, sha);
  try {
    const s = await stat(path);
    if (expected.size === undefined || s.size === expected.size) return { path, fromCache: true };
  } catch {
    // not cached
  }
  await mkdir(join(cacheDir, "apt", "tmp"), { recursive: true });
  await mkdir(join(cacheDir, "apt", "sha256"), { recursive: true });
  for (const url of urls) {
    const done = await withRetries(options, async () => {
      const body = await open(url, options);
      if (body === undefined) return false;
      const temp = join(cacheDir, "apt", "tmp", `${randomBytes(8).toString("hex")}.part`);
      const hasher = new DigestingStream();
      try {
        try {
          await pipeline(body, hasher, createWriteStream(temp));
        } catch (error) {
          throw new Transient(new AptError("APT_FETCH_FAILED", `cannot fetch ${url}: ${(error as Error).message}`, { cause: error }));
        }
        const actual = hasher.digest.slice("sha256:".length);
        if (actual !== sha || (expected.size !== undefined && hasher.size !== expected.size)) {
          throw new AptError(
            "APT_HASH_MISMATCH",
            `${expected.what} from ${url} has sha256 ${actual} (${hasher.size} bytes), but the signed index says ${sha}${expected.size !== undefined ? ` (${expected.size} bytes)` : ""}`,
            { hint: "the mirror serves altered or out-of-date files; it was not used. Try again later or set another mirror" },
          );
        }
        await rename(temp, path);
        return true;
      } finally {
        await rm(temp, { force: true });
      }
    });
    if (done) return { path, fromCache: false };
  }
  throw new AptError("APT_FETCH_FAILED", `cannot fetch ${expected.what}: not found at ${urls.join(" or ")}`, {
    hint: "the mirror may be out of date or the file was removed; try again, or set another mirror",
  });
}

