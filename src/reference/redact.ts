// The one rule for what of a URL or reference may be printed or logged: never the userinfo
// (`user:password@` becomes `[redacted]@`), and of the query only values known to be harmless. Every message, log line
// and usage error that shows a URL, a registry endpoint or an image reference goes through here.

export const REDACTED = "[redacted]";

// Query parameters that are safe to show; everything else (tokens, signatures, upload state) is redacted.
const SAFE_QUERY = new Set(["digest", "mount", "from", "n", "last", "service", "scope"]);

/** A URL with its userinfo, and every query value not known to be harmless, replaced by `[redacted]`. */
export function redactUrl(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return redactSecrets(String(url).replace(/\?.*$/, `?${REDACTED}`));
  }
  const params = [...parsed.searchParams.entries()].map(([k, v]) => [k, SAFE_QUERY.has(k.toLowerCase()) ? v : REDACTED] as const);
  const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${v === REDACTED ? v : encodeURIComponent(v)}`).join("&");
  // The user info is replaced, not dropped: that credentials are in play is worth seeing.
  const userinfo = parsed.username !== "" || parsed.password !== "" ? `${REDACTED}@` : "";
  const authority = parsed.host === "" ? "" : `//${userinfo}${parsed.host}`;
  return `${parsed.protocol}${authority}${parsed.pathname}${query ? `?${query}` : ""}${parsed.hash}`;
}

// `scheme://userinfo@` in a URL, and `user:password@host` or `token@host` written where a reference or host was expected.
// (The scheme's length is bounded so that a long run of letters cannot make the scan quadratic.)
const URL_USERINFO = /([A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/)[^/?#\s"'@]*@/g;
// (`name:tag@sha256:...` is a pinned reference, not a credential.)
// The user part may be a token alone (`TOKEN@host`), so any `something@` before a host is taken.
const BARE_USERINFO = /(^|[\s"'=(,[])[^\s"'/@=(,[\]]+@(?=[^\s"'@])(?!sha(?:256|384|512):)/g;

/** Text (a URL, pip arguments) without the `user:password@` of its URLs and nothing else changed: what identifies an index, not who logs in to it. */
export function withoutUserinfo(text: string): string {
  return text.replace(URL_USERINFO, "$1");
}

/** Free text (an error message, a flag value) with every credential that looks typed into a URL or reference replaced. */
export function redactSecrets(text: string): string {
  return text.replace(URL_USERINFO, `$1${REDACTED}@`).replace(BARE_USERINFO, `$1${REDACTED}@`);
}
