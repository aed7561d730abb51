// HTTP for registries: pooled keep-alive connections (undici), TLS with the system CAs plus an
// optional CA file, plain HTTP only for loopback or explicitly insecure hosts, bounded retries
// with backoff on transient failures, timeouts, redirects that never carry credentials to
// another host, and a redacted log of every exchange. Knows nothing about auth or the API.
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import * as tls from "node:tls";
import type { Dispatcher } from "undici";
import { Agent } from "./undici-agent.js";
import { apiHost, isLoopbackHost } from "../reference/index.js";
import { VERSION } from "../version.js";
import { ImagespecError } from "../errors.js";
import { endpointTable, type RegistryEndpoints } from "./endpoints.js";
import { networkError, errorCode, isTransientNetworkError, parseErrorBody, safeUrl, saysNotFound, RegistryError } from "./errors.js";
import { redactHeaders, redactUrl, type RegistryLogger } from "./log.js";
import { backoffDelay, DEFAULT_RETRY, DEFAULT_TIMEOUT_MS, isRetryableStatus, mayRetry, sleep, STALL_CODES, type RetryPolicy } from "./retry.js";

/** Each defaults to DEFAULT_TIMEOUT_MS (12 s); the CLI's --timeout sets all three. */
export interface TransportTimeouts {
  /** TCP + TLS connect. */
  readonly connectMs?: number;
  /** From the end of the request to the response headers. */
  readonly headersMs?: number;
  /** Longest silence while reading a response body. */
  readonly bodyIdleMs?: number;
}

export interface TransportOptions {
  /** A PEM file of CA certificates trusted in addition to the system ones. */
  readonly caFile?: string;
  /** Hosts (`host[:port]`) reached without certificate checks, falling back to plain HTTP. */
  readonly insecureRegistries?: readonly string[];
  readonly retry?: Partial<RetryPolicy>;
  readonly timeouts?: TransportTimeouts;
  readonly userAgent?: string;
  readonly logger?: RegistryLogger;
  /** Concurrent connections per origin (default 16). */
  readonly connectionsPerHost?: number;
  /**
   * Registry hosts reached at another URL (`{ "host[:port]": "scheme://host[:port]" }`): a VPC
   * endpoint, a mirror. References, credentials and auth keep the logical host; requests go there.
   */
  readonly endpoints?: RegistryEndpoints;
}

/** A request body that can be produced again from the start, so the request can be retried. */
export interface ReopenableBody {
  open(): Promise<Readable>;
  readonly length?: number;
}

/** Buffers and reopenable bodies are retried freely; a bare stream only until its first byte is read. */
export type RequestBody = Buffer | ReopenableBody | Readable;

export interface HttpRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers?: Record<string, string>;
  readonly body?: RequestBody;
  /** Follow 3xx answers (GET/HEAD only); Authorization is dropped when a hop leaves the origin. */
  readonly followRedirects?: boolean;
  readonly signal?: AbortSignal;
}

const MAX_REDIRECTS = 5;
const ERROR_BODY_LIMIT = 1 << 20;

/** A response whose body must be read or discarded (that returns the connection to the pool). */
export class HttpResponse {
  private cached: Buffer | undefined;
  /** Set by the transport when this answer came after it had spent the retry policy's tries. */
  retriedBelow = false;

  constructor(
    readonly method: string,
    /** The final URL, after redirects. */
    readonly url: URL,
    readonly status: number,
    readonly headers: Record<string, string | string[] | undefined>,
    private readonly stream: Readable,
  ) {}

  header(name: string): string | undefined {
    const value = this.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(", ") : value;
  }

  /** The body as a stream; only once, and not after buffer()/text(). */
  get body(): Readable {
    return this.stream;
  }

  /** Reads the whole body, failing beyond `limit` bytes (registries send small JSON, not layers, here). */
  async buffer(limit = 64 << 20): Promise<Buffer> {
    if (this.cached) return this.cached;
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of this.stream) {
        const buf = chunk as Buffer;
        total += buf.length;
        if (total > limit) {
          this.stream.destroy();
          throw new ImagespecError("RESPONSE_TOO_LARGE", `${this.method} ${redactUrl(this.url)}: response body is larger than ${limit} bytes`, {
            hint: "the registry sent far more than expected; check that the host really is an OCI registry",
          });
        }
        chunks.push(buf);
      }
    } catch (error) {
      if (error instanceof ImagespecError) throw error;
      // The answer broke off mid-body: asking again from the start may get all of it.
      throw networkError(this.method, this.url, error, isTransientNetworkError(error));
    }
    this.cached = Buffer.concat(chunks);
    return this.cached;
  }

  async text(limit?: number): Promise<string> {
    return (await this.buffer(limit)).toString("utf8");
  }

  /**
   * Throws the registry's error for this response, reading its error body. An answer that is not a
   * registry error (a 200 where 202 was due, an HTML page from a proxy) is described by what came
   * back: its content type and first bytes.
   */
  async fail(overrides: { hint?: string; code?: string; expected?: string } = {}): Promise<never> {
    let body = "";
    try {
      body = await this.text(ERROR_BODY_LIMIT);
    } catch {
      // the status alone still says what happened
    }
    const { expected, ...rest } = overrides;
    const details = parseErrorBody(body);
    const retryAfter = this.header("retry-after");
    const odd = this.status < 400 || details.length === 0;
    throw new RegistryError({
      method: this.method,
      url: this.url,
      status: this.status,
      details,
      ...(odd && (body !== "" || expected !== undefined) ? { problem: describeAnswer(this.header("content-type"), body, expected) } : {}),
      ...(this.status < 400 ? { code: "UNEXPECTED_RESPONSE", hint: unexpectedHint(this.url) } : {}),
      ...(retryAfter !== undefined ? { retryAfter } : {}),
      ...(this.retriedBelow ? { retriedBelow: true } : {}),
      ...rest,
    });
  }

  /** Drops the body so the connection can be reused. */
  async discard(): Promise<void> {
    if (this.cached) return;
    try {
      const dumpable = this.stream as Readable & { dump?: (opts?: { limit: number }) => Promise<void> };
      if (typeof dumpable.dump === "function") await dumpable.dump({ limit: ERROR_BODY_LIMIT });
      else this.stream.resume();
    } catch {
      // a broken body on a response we are ignoring is not an error
    }
  }
}

/** `text/html: "<html><body>Sign in..."` — enough of an answer to tell what sent it. */
export function describeAnswer(contentType: string | undefined, body: string | Buffer, expected?: string): string {
  const text = (Buffer.isBuffer(body) ? body.subarray(0, 200).toString("utf8") : body.slice(0, 200)).replace(/\s+/g, " ").trim();
  // Control characters and other binary noise would garble a terminal.
  // A page that echoes the request (some proxies do) must not carry a credential into the message.
  const printable = text.replace(/[^\x20-\x7e]/g, "?").replace(/\b(bearer|basic)\s+[\w.~+/=-]+/gi, "$1 [redacted]").slice(0, 80);
  const what = `${contentType?.trim() || "no content type"}${printable ? `: ${JSON.stringify(printable)}` : ", empty body"}`;
  return expected ? `answered ${what} where ${expected} was expected` : `answered ${what}`;
}

function unexpectedHint(url: URL): string {
  return `something that is not an OCI registry answered for ${url.host} (a proxy, a captive portal or a login page?); check the host and port, and any HTTP proxy between you and the registry`;
}

export class Transport {
  private readonly verifying: Agent;
  private readonly trusting: Agent;
  private readonly insecure: Set<string>;
  private readonly schemes = new Map<string, Promise<"http" | "https">>();
  /** `WWW-Authenticate` of the `/v2/` probe, so the first real request can carry auth. */
  private readonly probeChallenges = new Map<string, string>();
  /** The one retry policy: the transport's own retries and the push's upload restarts use it. */
  readonly retryPolicy: RetryPolicy;
  private readonly userAgent: string;
  private readonly endpoints: Map<string, URL>;
  readonly logger: RegistryLogger | undefined;

  constructor(options: TransportOptions = {}) {
    const timeouts = options.timeouts ?? {};
    const common = {
      keepAliveTimeout: 30_000,
      headersTimeout: timeouts.headersMs ?? DEFAULT_TIMEOUT_MS,
      bodyTimeout: timeouts.bodyIdleMs ?? DEFAULT_TIMEOUT_MS,
      connections: options.connectionsPerHost ?? 16,
    };
    const connectTimeout = timeouts.connectMs ?? DEFAULT_TIMEOUT_MS;
    const ca = options.caFile ? trustedCas(options.caFile) : undefined;
    // One secure context for all connections: building it from ~150 PEM roots per connection is slow.
    const secureContext = ca ? tls.createSecureContext({ ca }) : undefined;
    this.verifying = new Agent({ ...common, connect: { timeout: connectTimeout, ...(secureContext ? { secureContext } : {}) } });
    this.trusting = new Agent({ ...common, connect: { timeout: connectTimeout, rejectUnauthorized: false } });
    this.insecure = new Set((options.insecureRegistries ?? []).map((h) => h.toLowerCase()));
    this.retryPolicy = { ...DEFAULT_RETRY, ...options.retry };
    this.userAgent = options.userAgent ?? `imagespec/${VERSION}`;
    this.logger = options.logger;
    this.endpoints = endpointTable(options.endpoints);
  }

  /** The endpoint a registry host is mapped to, if any. */
  endpoint(registry: string): URL | undefined {
    return this.endpoints.get(registry.toLowerCase());
  }

  isInsecure(registry: string): boolean {
    const host = registry.toLowerCase();
    return this.insecure.has(host) || this.insecure.has(host.replace(/:\d+$/, ""));
  }

  /**
   * `https://host` or, for loopback and insecure hosts that do not speak TLS, `http://host`.
   * Decided once per host by asking `/v2/` over HTTPS first, as docker and go-containerregistry do.
   */
  async baseUrl(registry: string, signal?: AbortSignal): Promise<URL> {
    const mapped = this.endpoint(registry);
    if (mapped) return new URL(mapped.origin);
    // Docker Hub is named docker.io but served from registry-1.docker.io.
    const host = apiHost(registry);
    if (!isLoopbackHost(host) && !this.isInsecure(host) && !this.isInsecure(registry)) return new URL(`https://${host}`);
    let scheme = this.schemes.get(host);
    if (!scheme) {
      scheme = this.probe(host, signal);
      this.schemes.set(host, scheme);
      scheme.catch(() => this.schemes.delete(host));
    }
    return new URL(`${await scheme}://${host}`);
  }

  private async probe(registry: string, signal?: AbortSignal): Promise<"http" | "https"> {
    const httpsUrl = new URL(`https://${registry}/v2/`);
    let httpsError: unknown;
    try {
      const res = await this.request({ method: "GET", url: httpsUrl, ...(signal ? { signal } : {}) });
      await res.discard();
      this.rememberChallenge(registry, res);
      this.logger?.({ type: "scheme", registry, scheme: "https" });
      return "https";
    } catch (error) {
      httpsError = error;
      if (!(error instanceof RegistryError && error.code === "TLS_ERROR")) throw error;
    }
    // HTTPS failed in the handshake: the server may speak plain HTTP, or it may be TLS with a
    // certificate we do not trust. Only a real registry answer over HTTP decides for HTTP.
    try {
      const res = await this.request({ method: "GET", url: new URL(`http://${registry}/v2/`), ...(signal ? { signal } : {}) });
      const body = res.status === 400 ? await res.text(ERROR_BODY_LIMIT) : (await res.discard(), "");
      if (!/HTTPS/i.test(body)) {
        this.rememberChallenge(registry, res);
        this.logger?.({ type: "scheme", registry, scheme: "http" });
        return "http";
      }
    } catch (httpError) {
      // A handshake answered in plain HTTP ("wrong version number") means the server speaks
      // HTTP: then what went wrong over HTTP (a stall, a reset) is the failure to report.
      if (speaksPlainHttp(httpsError)) throw httpError;
    }
    throw httpsError;
  }

  private rememberChallenge(registry: string, res: HttpResponse): void {
    const challenge = res.status === 401 ? res.header("www-authenticate") : undefined;
    if (challenge) this.probeChallenges.set(registry, challenge);
  }

  /** The auth challenge the registry answered the scheme probe with, if it was probed. */
  probeChallenge(registry: string): string | undefined {
    return this.probeChallenges.get(apiHost(registry));
  }

  /** Sends a request, retrying transient failures; returns any HTTP answer, throws only below HTTP. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = req.url;
    let headers = { ...req.headers };
    for (let hops = 0; ; hops++) {
      const res = await this.send({ ...req, url, headers });
      const location = res.header("location");
      const redirectable = req.followRedirects && (req.method === "GET" || req.method === "HEAD");
      if (!redirectable || !location || ![301, 302, 303, 307, 308].includes(res.status)) return res;
      await res.discard();
      if (hops >= MAX_REDIRECTS) {
        throw new RegistryError({ method: req.method, url: req.url, status: res.status, code: "TOO_MANY_REDIRECTS", problem: `more than ${MAX_REDIRECTS} redirects` });
      }
      const next = resolveLocation(location, url, req.method);
      // Storage backends (S3, GCS) get signed URLs; the registry's credentials must not follow.
      const leaves = next.origin !== url.origin;
      const hadAuthorization = "authorization" in lowerKeys(headers);
      if (leaves) headers = withoutAuthorization(headers);
      this.logger?.({ type: "redirect", method: req.method, from: redactUrl(url), to: redactUrl(next), droppedAuthorization: leaves && hadAuthorization });
      url = next;
    }
  }

  private async send(req: HttpRequest): Promise<HttpResponse> {
    const policy = this.retryPolicy;
    const oneShot = req.body !== undefined && !Buffer.isBuffer(req.body) && isReadable(req.body) ? req.body : undefined;
    let stalls = 0;
    for (let attempt = 1; ; attempt++) {
      const body = await openBody(req.body);
      const headers: Record<string, string> = { "user-agent": this.userAgent, ...lowerKeys(req.headers ?? {}) };
      if (body.length !== undefined && headers["content-length"] === undefined && req.body !== undefined) headers["content-length"] = String(body.length);
      const started = Date.now();
      this.logger?.({ type: "request", method: req.method, url: redactUrl(req.url), headers: redactHeaders(headers) });
      let res: Dispatcher.ResponseData;
      try {
        res = await this.dispatcher(req.url).request({
          origin: req.url.origin,
          path: `${req.url.pathname}${req.url.search}`,
          method: req.method as Dispatcher.HttpMethod,
          headers,
          body: body.data ?? null,
          ...(req.signal ? { signal: req.signal } : {}),
        });
      } catch (error) {
        if (body.data !== undefined && body.data !== oneShot && !Buffer.isBuffer(body.data)) body.data.destroy();
        if (req.signal?.aborted) throw abortError(req, req.signal.reason);
        const stillReplayable = oneShot === undefined || !oneShot.readableDidRead;
        const transient = isTransientNetworkError(error);
        if (STALL_CODES.has(errorCode(error) ?? "")) stalls++;
        if (transient && stillReplayable && mayRetry(policy, attempt, stalls)) {
          const delayMs = backoffDelay(policy, attempt);
          this.logger?.({ type: "retry", method: req.method, url: redactUrl(req.url), attempt, delayMs, reason: errorCode(error) ?? "network error" });
          await this.pause(delayMs, req);
          continue;
        }
        if (error instanceof ImagespecError) throw error;
        throw networkError(req.method, req.url, error, transient && !stillReplayable, transient && stillReplayable);
      }
      const response = new HttpResponse(req.method, req.url, res.statusCode, res.headers, res.body);
      this.logger?.({ type: "response", method: req.method, url: redactUrl(req.url), status: res.statusCode, headers: redactHeaders(res.headers), ms: Date.now() - started });
      // A stream body is gone once sent; its owner decides whether to start over.
      if (!isRetryableStatus(res.statusCode) || oneShot !== undefined) return response;
      if (attempt >= policy.attempts) {
        response.retriedBelow = true;
        return response;
      }
      if (res.statusCode >= 500 && req.method !== "HEAD") {
        // Some registries answer "repository not found" with a 500; asking again will not help.
        const text = await response.text(ERROR_BODY_LIMIT).catch(() => "");
        if (saysNotFound(parseErrorBody(text), text)) return response;
      } else {
        await response.discard();
      }
      const delayMs = backoffDelay(policy, attempt, response.header("retry-after"));
      this.logger?.({ type: "retry", method: req.method, url: redactUrl(req.url), attempt, delayMs, reason: `HTTP ${res.statusCode}` });
      await this.pause(delayMs, req);
    }
  }

  private async pause(ms: number, req: HttpRequest): Promise<void> {
    try {
      await sleep(ms, req.signal);
    } catch (reason) {
      throw abortError(req, reason);
    }
  }

  private dispatcher(url: URL): Agent {
    return url.protocol === "https:" && this.isInsecure(url.host) ? this.trusting : this.verifying;
  }

  async close(): Promise<void> {
    await Promise.all([this.verifying.close(), this.trusting.close()]);
  }
}

/** A Location (absolute or relative to the request) as a URL; a malformed one is a registry error. */
export function resolveLocation(location: string, base: URL, method: string): URL {
  try {
    return new URL(location, base);
  } catch (error) {
    throw new RegistryError({ method, url: base, code: "LOCATION_INVALID", problem: "the registry answered with a malformed Location", hint: "the registry is not following the distribution spec; tell its operator", cause: error });
  }
}

function abortError(req: HttpRequest, reason: unknown): ImagespecError {
  if (reason instanceof ImagespecError) return reason;
  return new ImagespecError("ABORTED", `${req.method} ${safeUrl(req.url)}: aborted`, {
    hint: "the operation was cancelled before it finished",
    cause: reason,
  });
}

function speaksPlainHttp(tlsError: unknown): boolean {
  const cause = (tlsError as { cause?: unknown }).cause;
  const text = `${errorCode(cause) ?? ""} ${cause instanceof Error ? cause.message : ""}`;
  return /WRONG_VERSION_NUMBER|wrong version number|packet length too long|http request/i.test(text);
}

function isReadable(body: RequestBody): body is Readable {
  return typeof (body as Readable).pipe === "function" && typeof (body as Readable).read === "function";
}

async function openBody(body: RequestBody | undefined): Promise<{ data?: Buffer | Readable; length?: number }> {
  if (body === undefined) return {};
  if (Buffer.isBuffer(body)) return { data: body, length: body.length };
  if (isReadable(body)) return { data: body };
  const stream = await body.open();
  return { data: stream, ...(body.length !== undefined ? { length: body.length } : {}) };
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
}

/** The CAs Node trusts by default plus the user's file: `ca` replaces the defaults, so both go in. */
function trustedCas(caFile: string): string[] {
  let extra: string;
  try {
    extra = readFileSync(caFile, "utf8");
  } catch (error) {
    throw new ImagespecError("CA_FILE_UNREADABLE", `cannot read the CA file ${caFile}: ${(error as Error).message}`, {
      hint: "pass a readable PEM file with --ca-file",
    });
  }
  if (!extra.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ImagespecError("CA_FILE_INVALID", `the CA file ${caFile} holds no PEM certificate`, { hint: "pass the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)" });
  }
  const getCa = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  const defaults = typeof getCa === "function" ? getCa("default") : [...tls.rootCertificates, ...envExtraCas()];
  return [...defaults, extra];
}

function envExtraCas(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return [readFileSync(file, "utf8")];
  } catch {
    return [];
  }
}
