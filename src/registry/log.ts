// The `--verbose` hook: every HTTP exchange and auth step as an event, with secrets removed before
// the event is built, so no logger (however careless) can print a token or a password.

export type RegistryLogEvent =
  | { readonly type: "request"; readonly method: string; readonly url: string; readonly headers: Record<string, string> }
  | {
      readonly type: "response";
      readonly method: string;
      readonly url: string;
      readonly status: number;
      readonly headers: Record<string, string>;
      readonly ms: number;
    }
  | { readonly type: "retry"; readonly method: string; readonly url: string; readonly attempt: number; readonly delayMs: number; readonly reason: string }
  | { readonly type: "redirect"; readonly method: string; readonly from: string; readonly to: string; readonly droppedAuthorization: boolean }
  | { readonly type: "scheme"; readonly registry: string; readonly scheme: "http" | "https" }
  | { readonly type: "auth"; readonly registry: string; readonly scheme: string; readonly scopes: readonly string[]; readonly source?: string; readonly action: "token-fetched" | "token-refresh" | "basic" | "anonymous-token" | "credential-refresh" };

export type RegistryLogger = (event: RegistryLogEvent) => void;

const SECRET_HEADERS = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie", "x-amz-security-token"]);
// Query parameters that are safe to show; everything else (tokens, signatures, upload state) is redacted.
const SAFE_QUERY = new Set(["digest", "mount", "from", "n", "last", "service", "scope"]);

export const REDACTED = "[redacted]";

/** A URL with every query value that is not known to be harmless replaced by `[redacted]`. */
export function redactUrl(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return String(url).replace(/\?.*$/, "?[redacted]");
  }
  parsed.username = "";
  parsed.password = "";
  const params = [...parsed.searchParams.entries()].map(([k, v]) => [k, SAFE_QUERY.has(k.toLowerCase()) ? v : REDACTED] as const);
  const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${v === REDACTED ? v : encodeURIComponent(v)}`).join("&");
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}${query ? `?${query}` : ""}`;
}

/** Headers with credentials replaced by `[redacted]` (the scheme word is kept: "Bearer [redacted]"). */
export function redactHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(", ") : value;
    const lower = name.toLowerCase();
    if (SECRET_HEADERS.has(lower)) {
      const scheme = /^(\w+)\s/.exec(text)?.[1];
      out[lower] = scheme ? `${scheme} ${REDACTED}` : REDACTED;
    } else if (lower === "location") {
      out[lower] = redactUrl(text.startsWith("/") ? `http://relative${text}` : text).replace(/^http:\/\/relative/, "");
    } else {
      out[lower] = text;
    }
  }
  return out;
}
