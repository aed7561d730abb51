// `WWW-Authenticate` parsing (RFC 7235): one header may hold several challenges, each a scheme
// followed by comma-separated `name=value` params whose values may be quoted strings with commas,
// `=` and backslash escapes inside (`scope="repository:a:pull,push"`).

export interface Challenge {
  /** Lower-cased: `basic`, `bearer`, ... */
  readonly scheme: string;
  /** Param names lower-cased; values unquoted. */
  readonly params: Readonly<Record<string, string>>;
  /** The token68 form (`Negotiate abc==`), when a challenge has one instead of params. */
  readonly token68?: string;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[-._~+/0-9A-Za-z]/;

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(offset = 0): string {
    return this.text[this.pos + offset] ?? "";
  }

  skipSpaces(): void {
    while (this.peek() === " " || this.peek() === "\t") this.pos++;
  }

  skipSeparators(): void {
    while (this.peek() === " " || this.peek() === "\t" || this.peek() === ",") this.pos++;
  }

  read(pattern: RegExp): string {
    const start = this.pos;
    while (!this.done && pattern.test(this.peek())) this.pos++;
    return this.text.slice(start, this.pos);
  }

  quoted(): string {
    this.pos++; // opening quote
    let out = "";
    while (!this.done) {
      const c = this.peek();
      this.pos++;
      if (c === "\\") {
        out += this.peek();
        this.pos++;
      } else if (c === '"') {
        return out;
      } else {
        out += c;
      }
    }
    return out; // unterminated: take what there is
  }
}

/** True when the scanner is at `name = ...` (an auth-param) rather than at a new scheme. */
function atParam(s: Scanner): boolean {
  const save = s.pos;
  const name = s.read(TOKEN_CHAR);
  s.skipSpaces();
  const isParam = name !== "" && s.peek() === "=";
  s.pos = save;
  return isParam;
}

export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const text = typeof header === "string" ? header : header.join(", ");
  const s = new Scanner(text);
  const challenges: Challenge[] = [];
  while (true) {
    s.skipSeparators();
    if (s.done) break;
    const scheme = s.read(TOKEN_CHAR);
    if (scheme === "") {
      s.pos++; // junk; skip it rather than loop forever
      continue;
    }
    const params: Record<string, string> = {};
    let token68: string | undefined;
    s.skipSpaces();
    // token68 form (`Negotiate abc==`): a blob, optional '=' padding, then the end or a comma.
    const save = s.pos;
    if (!atParamAfter(text, save)) {
      const blob = s.read(TOKEN68_CHAR) + s.read(/=/);
      s.skipSpaces();
      if (blob !== "" && (s.done || s.peek() === ",")) token68 = blob;
    }
    if (token68 === undefined) {
      s.pos = save;
      while (true) {
        s.skipSeparators();
        if (s.done || !atParam(s)) break;
        const name = s.read(TOKEN_CHAR).toLowerCase();
        s.skipSpaces();
        s.pos++; // '='
        s.skipSpaces();
        const value = s.peek() === '"' ? s.quoted() : s.read(/[^,\s]/);
        params[name] = value;
      }
    }
    challenges.push({ scheme: scheme.toLowerCase(), params, ...(token68 !== undefined ? { token68 } : {}) });
  }
  return challenges;
}

/** A lone `name=value` right after the scheme is a param, not a token68 blob. */
function atParamAfter(text: string, pos: number): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\s*=\s*[^=\s,]/.test(text.slice(pos));
}

/** The challenge we answer: Bearer over Basic when a registry offers both. */
export function preferredChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
}
