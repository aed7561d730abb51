// One retry policy for every registry request: which failures are worth another try, how many
// tries, and how long to wait between them (exponential backoff with full jitter, or the
// registry's own Retry-After up to a cap). The transport, the upload restarts and the push all
// take their numbers from here, so a 503 on PATCH is survived exactly as often as one on POST.

export interface RetryPolicy {
  /** Total tries of one step, including the first (default 4). */
  readonly attempts: number;
  /** The first backoff ceiling in milliseconds (default 250); doubled each time. */
  readonly baseDelayMs: number;
  /** Cap on a computed backoff (default 10 s). */
  readonly maxDelayMs: number;
  /** Cap on a wait the registry asks for with Retry-After (default 60 s); longer asks are shortened to it. */
  readonly maxRetryAfterMs: number;
  /**
   * Tries of a step that stalled (no connection, no answer or a silent body within the timeout):
   * each stall costs a whole timeout, so a registry that accepts and never answers fails within
   * about this many timeouts rather than `attempts` of them (default 2).
   */
  readonly stallAttempts: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 60_000, stallAttempts: 2 };

/**
 * The default of `--timeout`: the longest wait for a connection, for response headers, and for the
 * next byte of a body. Two stalls of 12 s plus backoff keep `imagespec exists` against a registry
 * that never answers under 30 s.
 */
export const DEFAULT_TIMEOUT_MS = 12_000;

/** Statuses a registry or its load balancer uses for "try again". */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** The network codes of a stall: the other side accepted nothing, or said nothing, in time. */
export const STALL_CODES: ReadonlySet<string> = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ETIMEDOUT"]);

/** Whether another try is allowed after `attempt` tries, `stalls` of which timed out. */
export function mayRetry(policy: RetryPolicy, attempt: number, stalls: number): boolean {
  return attempt < policy.attempts && stalls < policy.stallAttempts;
}

/**
 * The wait before try number `attempt + 1` (attempt counts from 1): what Retry-After asks (capped
 * at maxRetryAfterMs), else a uniformly random wait up to base * 2^(attempt-1) ("full jitter"), so
 * clients that failed together do not come back together.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfter?: string, now = Date.now(), random = Math.random): number {
  const asked = retryAfter === undefined ? undefined : parseRetryAfter(retryAfter, now);
  if (asked !== undefined) return Math.min(asked, policy.maxRetryAfterMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(random() * ceiling);
}

/** `Retry-After` is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string, now = Date.now()): number | undefined {
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
