// Registry failures as typed errors. Every one names the request (method, host and path — never the
// query, which can carry signed-URL secrets, and never a header), the HTTP status and the registry's
// own error codes, and carries a hint a person can act on.
import { ImagespecError } from "../errors.js";

/** An `errors[]` entry of the distribution spec's JSON error body. */
export interface RegistryErrorDetail {
  readonly code: string;
  readonly message?: string;
}

export interface RegistryErrorInit {
  readonly method: string;
  /** Where the request went; only the origin and path are kept. */
  readonly url: URL | string;
  readonly status?: number;
  readonly details?: readonly RegistryErrorDetail[];
  /** Overrides the code derived from the status and details. */
  readonly code?: string;
  /** What went wrong, when it is not an HTTP status (a refused connection, a TLS failure). */
  readonly problem?: string;
  readonly hint?: string;
  /** True when a fresh attempt with a reopened request body may succeed. */
  readonly retryable?: boolean;
  /** True when the transport already spent the retry policy's tries on this request. */
  readonly retriedBelow?: boolean;
  /** The registry's Retry-After, when it sent one: how long it asked us to wait. */
  readonly retryAfter?: string;
  /** Which end of a transfer failed, when there are two (copy, a push of a pulled base). */
  readonly side?: "source" | "target";
  readonly cause?: unknown;
}

export class RegistryError extends ImagespecError {
  readonly method: string;
  /** `scheme://host/path` of the failed request. */
  readonly url: string;
  readonly status: number | undefined;
  /** The registry's error codes (`NAME_UNKNOWN`, `DENIED`, ...), first one first. */
  readonly registryCodes: readonly string[];
  readonly retryable: boolean;
  /** The transport already spent the retry policy's tries on this request: a caller above must not spend them again. */
  readonly retriedBelow: boolean;
  readonly retryAfter: string | undefined;
  readonly side: "source" | "target" | undefined;
  private readonly init: RegistryErrorInit;

  constructor(init: RegistryErrorInit) {
    const url = safeUrl(init.url);
    const details = init.details ?? [];
    const code = init.code ?? details[0]?.code ?? codeForStatus(init.status);
    const side = init.side ? `${init.side} registry: ` : "";
    super(code, `${side}${describe(init.method, url, init.status, details, init.problem)}`, {
      hint: init.hint ?? hintFor(code, init.status, url) ?? hintFor(codeForStatus(init.status), init.status, url) ?? genericHint(url),
      cause: init.cause,
    });
    this.method = init.method;
    this.url = url;
    this.status = init.status;
    this.registryCodes = details.map((d) => d.code);
    this.retryable = init.retryable ?? false;
    this.retriedBelow = init.retriedBelow ?? false;
    this.retryAfter = init.retryAfter;
    this.side = init.side;
    this.init = init;
  }

  /** The same error with another hint (a registry vendor's advice, src/registry/vendor.ts). */
  withHint(hint: string): RegistryError {
    return new RegistryError({ ...this.init, hint, cause: this.init.cause ?? this });
  }

  /** The same error, saying which end of a transfer it came from. */
  onSide(side: "source" | "target"): RegistryError {
    return this.side === side ? this : new RegistryError({ ...this.init, side, cause: this.init.cause ?? this });
  }

  /** The registry host (with port) the request went to. */
  get host(): string {
    try {
      return new URL(this.url).host;
    } catch {
      return this.url;
    }
  }
}

/** The origin and path of a URL: what error messages may show. */
export function safeUrl(url: URL | string): string {
  try {
    const parsed = typeof url === "string" ? new URL(url) : url;
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return String(url).replace(/[?#].*$/, "");
  }
}

function describe(method: string, url: string, status: number | undefined, details: readonly RegistryErrorDetail[], problem: string | undefined): string {
  const parts = [`${method} ${url}`];
  if (status !== undefined) parts.push(`${status} ${STATUS_TEXT[status] ?? "HTTP error"}`);
  for (const d of details.slice(0, 3)) parts.push(d.message ? `${d.code}: ${truncate(d.message, 200)}` : d.code);
  if (problem) parts.push(problem);
  return parts.join(": ");
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}...` : oneLine;
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  416: "Range Not Satisfiable",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

function codeForStatus(status: number | undefined): string {
  switch (status) {
    case undefined:
      return "REGISTRY_ERROR";
    case 401:
      return "UNAUTHORIZED";
    case 403:
      return "DENIED";
    case 404:
      return "NOT_FOUND";
    case 405:
      return "UNSUPPORTED";
    case 429:
      return "TOOMANYREQUESTS";
    default:
      return status >= 500 ? "REGISTRY_UNAVAILABLE" : `HTTP_${status}`;
  }
}

function genericHint(url: string): string {
  return `the request to ${hostOf(url)} failed; rerun with --verbose to see the HTTP exchange`;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function hintFor(code: string, status: number | undefined, url: string): string | undefined {
  let host = url;
  let repository = "";
  try {
    const parsed = new URL(url);
    host = parsed.host;
    repository = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(parsed.pathname)?.[1] ?? "";
  } catch {
    // keep the raw text
  }
  const repo = repository ? ` ${repository}` : "";
  switch (code) {
    case "UNAUTHORIZED":
      return `check the credentials for ${host}: run \`docker login ${host}\`, check the credential helper in your docker config, or pass credentials explicitly`;
    case "DENIED":
      return `the credentials for ${host} were accepted but lack permission on the repository${repo}; ask for pull/push rights, or check you are using the right account`;
    case "NAME_UNKNOWN":
      return `the repository${repo} does not exist on ${host}; check the name, or create it first (some registries create a repository only on request, not on the first push)`;
    case "MANIFEST_UNKNOWN":
      return `no image with that tag or digest in${repo || " the repository"}; check the tag, or list tags to see what exists`;
    case "BLOB_UNKNOWN":
      return "the registry does not hold that blob; push the image again";
    case "MANIFEST_BLOB_UNKNOWN":
      return "the manifest refers to a blob the registry does not hold; push the image's layers before its manifest";
    case "MANIFEST_INVALID":
    case "DIGEST_INVALID":
    case "SIZE_INVALID":
      return "the registry rejected the content as malformed or corrupted; rebuild the image and push again";
    case "TAG_INVALID":
      return "the registry refused the tag; it may be immutable (the repository does not let a tag move) or malformed — push under a new tag";
    case "UNSUPPORTED":
      return `${host} does not support this operation (deletes, for example, are often disabled)`;
    case "TOOMANYREQUESTS":
      return `${host} is rate limiting requests; wait and retry, or log in to get a higher limit`;
    case "REGISTRY_UNAVAILABLE":
    case "UNAVAILABLE":
      return `${host} is failing (HTTP ${status ?? "5xx"}); retry later, and check the registry's status or logs if it persists`;
    case "BLOB_UPLOAD_UNKNOWN":
    case "BLOB_UPLOAD_INVALID":
      return "the registry lost the upload session (it may have expired); push again";
    default:
      return undefined;
  }
}

/**
 * Reads the registry's error codes from a response body: the distribution spec's
 * `{"errors":[{code,message}]}`, plus the shapes token servers use (`details`, `error`).
 */
export function parseErrorBody(body: string): RegistryErrorDetail[] {
  if (body.trim() === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [];
  }
  if (typeof parsed !== "object" || parsed === null) return [];
  const record = parsed as Record<string, unknown>;
  if (Array.isArray(record.errors)) {
    return record.errors.flatMap((e: unknown) => {
      if (typeof e !== "object" || e === null) return [];
      const entry = e as Record<string, unknown>;
      if (typeof entry.code !== "string") return [];
      return [{ code: entry.code, ...(typeof entry.message === "string" ? { message: entry.message } : {}) }];
    });
  }
  const message = [record.details, record.error_description, record.message].find((v): v is string => typeof v === "string");
  if (typeof record.error === "string") return [{ code: record.error.toUpperCase(), ...(message ? { message } : {}) }];
  if (message) return [{ code: "ERROR", message }];
  return [];
}

/** A "repository not found" answer, however the registry phrases it (some use 403 or 500). */
export function saysNotFound(details: readonly RegistryErrorDetail[], body: string): boolean {
  if (details.some((d) => d.code === "NAME_UNKNOWN" || d.code === "MANIFEST_UNKNOWN" || d.code === "NOT_FOUND")) return true;
  if (details.some((d) => d.code === "DENIED" || d.code === "UNAUTHORIZED")) {
    // Some registries answer a missing repository with 403/DENIED whose message says it does not exist.
    return details.some((d) => d.message !== undefined && /does not exist|not found/i.test(d.message));
  }
  return /\b(?:not found|does not exist)\b/i.test(body.slice(0, 2000));
}

/** Classifies a failure below HTTP (socket, DNS, TLS, timeout) into a code and a hint. */
export function networkError(method: string, url: URL | string, error: unknown, retryable = false, retriedBelow = false): RegistryError {
  const code = errorCode(error);
  const host = (() => {
    try {
      return (typeof url === "string" ? new URL(url) : url).host;
    } catch {
      return String(url);
    }
  })();
  const reason = errorMessage(error);
  let kind: { code: string; problem: string; hint: string };
  if (isTlsErrorCode(code, reason)) {
    kind = {
      code: "TLS_ERROR",
      problem: `TLS failure (${code ?? reason})`,
      hint: `${host}'s certificate is not trusted: pass --ca-file (the caFile option) with the CA certificate that signed it, or mark the registry insecure (--insecure-registry / insecureRegistries) if you trust the network`,
    };
  } else if (code === "ECONNREFUSED") {
    kind = { code: "CONNECTION_REFUSED", problem: "connection refused", hint: `is the registry running at ${host}? check the host and port` };
  } else if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    kind = { code: "HOST_NOT_FOUND", problem: `cannot resolve ${host}`, hint: "check the registry host name for typos, and your DNS or network connection" };
  } else if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || code === "ETIMEDOUT") {
    kind = { code: "TIMEOUT", problem: `timed out (${code})`, hint: `${host} did not answer in time; check the network, proxies and firewall, or retry` };
  } else {
    kind = {
      code: "NETWORK_ERROR",
      problem: `network failure (${code ?? reason})`,
      hint: `the connection to ${host} failed; retry, and check proxies or firewalls if it persists`,
    };
  }
  return new RegistryError({ method, url, code: kind.code, problem: kind.problem, hint: kind.hint, retryable, retriedBelow, cause: error });
}

/** The `code` of an error or of what it wraps (undici wraps socket errors; happy eyeballs aggregates them). */
export function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (typeof e !== "object") return undefined;
    const record = e as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof record.code === "string" && record.code !== "UND_ERR_SOCKET") return record.code;
    if (Array.isArray(record.errors) && record.errors.length > 0) {
      e = record.errors[0];
      continue;
    }
    if (record.cause !== undefined) {
      e = record.cause;
      continue;
    }
    return typeof record.code === "string" ? record.code : undefined;
  }
  return undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "EPROTO",
]);

export function isTlsErrorCode(code: string | undefined, message = ""): boolean {
  if (code !== undefined && (TLS_CODES.has(code) || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_"))) return true;
  return /certificate|SSL routines|wrong version number/i.test(message);
}

/** Failures worth retrying: the connection dropped or stalled, not a refusal or a bad certificate. */
export function isTransientNetworkError(error: unknown): boolean {
  const code = errorCode(error);
  if (code === undefined) return false;
  if (isTlsErrorCode(code, errorMessage(error))) return false;
  return [
    "ECONNRESET",
    "EPIPE",
    "ETIMEDOUT",
    "ECONNABORTED",
    "EAI_AGAIN",
    "ECONNREFUSED",
    "UND_ERR_SOCKET",
    "UND_ERR_CONNECT_TIMEOUT",
    "UND_ERR_HEADERS_TIMEOUT",
    "UND_ERR_BODY_TIMEOUT",
    "UND_ERR_CLOSED",
  ].includes(code);
}
