// The `--verbose` hook: every HTTP exchange and auth step as an event, with secrets removed before
// the event is built, so no logger (however careless) can print a token or a password.

import { REDACTED, redactUrl } from "../reference/redact.js";

export { REDACTED, redactUrl };

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
  /** What became of an upload started while its layer was compressed (early-upload.ts); "dropped" leaves the blob to the push. */
  | { readonly type: "early-upload"; readonly repository: string; readonly outcome: "uploaded" | "exists" | "stopped" | "dropped"; readonly reason?: string }
  | { readonly type: "auth"; readonly registry: string; readonly scheme: string; readonly scopes: readonly string[]; readonly source?: string; readonly action: "token-fetched" | "token-refresh" | "basic" | "anonymous-token" | "credential-refresh" };

export type RegistryLogger = (event: RegistryLogEvent) => void;

const SECRET_HEADERS = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie", "x-amz-security-token"]);
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
