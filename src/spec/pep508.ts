// PEP 508 dependency specifiers (`name[extras] op version, ...; marker` or `name[extras] @ url ; marker`),
// checked the way pip would read them, so a typo fails at validation time with the reason instead of
// minutes into a build. Versions are checked against PEP 440 as specifiers require.
import { closest } from "./suggest.js";

export interface Requirement {
  readonly name: string;
  readonly extras: readonly string[];
  readonly specifiers: readonly { readonly operator: string; readonly version: string }[];
  readonly url?: string;
  /** The marker expression as written, after the `;`. */
  readonly marker?: string;
}

/** Why a requirement string is not PEP 508, with the column (1-based) where reading stopped. */
export class RequirementSyntaxError extends Error {
  constructor(
    readonly problem: string,
    readonly column: number,
  ) {
    super(problem);
  }
}

const NAME = /[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?/y;
const OPERATOR = /===|==|!=|<=|>=|~=|<|>/y;
const VERSION_CHARS = /[A-Za-z0-9_.*+!-]+/y;
const URL_TOKEN = /\S+/y;
const QUOTED = /'[^']*'|"[^"]*"/y;
const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_.]*/y;
const MARKER_OPERATOR = /===|==|!=|<=|>=|~=|<|>|in\b|not\s+in\b/y;

// PEP 440 public version (any spelling pip normalises) with an optional local label.
const RELEASE = String.raw`v?(?:\d+!)?\d+(?:\.\d+)*`;
const PRE = String.raw`(?:[-_.]?(?:alpha|beta|preview|pre|rc|a|b|c)[-_.]?\d*)?`;
const POST = String.raw`(?:-\d+|[-_.]?(?:post|rev|r)[-_.]?\d*)?`;
const DEV = String.raw`(?:[-_.]?dev[-_.]?\d*)?`;
const LOCAL = String.raw`(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?`;
const PUBLIC_VERSION = new RegExp(`^${RELEASE}${PRE}${POST}${DEV}$`, "i");
const LOCAL_VERSION = new RegExp(`^${RELEASE}${PRE}${POST}${DEV}${LOCAL}$`, "i");

/** PEP 508 environment markers (plus `extras` and `dependency_groups`, added by PEP 751). */
export const MARKER_VARIABLES: readonly string[] = [
  "python_version",
  "python_full_version",
  "os_name",
  "sys_platform",
  "platform_release",
  "platform_system",
  "platform_version",
  "platform_machine",
  "platform_python_implementation",
  "implementation_name",
  "implementation_version",
  "extra",
  "extras",
  "dependency_groups",
];

// Operators people write by mistake, and what they meant.
const MISTAKEN_OPERATORS: readonly [RegExp, string][] = [
  [/=>/y, ">="],
  [/=</y, "<="],
  [/=(?!=)/y, "=="],
  [/~(?!=)/y, "~="],
  [/!(?!=)/y, "!="],
];

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  get column(): number {
    return this.pos + 1;
  }

  peek(): string {
    return this.text[this.pos] ?? "";
  }

  skipSpace(): boolean {
    const start = this.pos;
    while (this.peek() === " " || this.peek() === "\t") this.pos++;
    return this.pos > start;
  }

  /** Consumes and returns the match of a sticky regex at the cursor, or undefined. */
  take(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.pos;
    const match = pattern.exec(this.text);
    if (!match) return undefined;
    this.pos += match[0].length;
    return match[0];
  }

  eat(char: string): boolean {
    if (this.peek() !== char) return false;
    this.pos++;
    return true;
  }

  fail(problem: string): never {
    throw new RequirementSyntaxError(problem, this.column);
  }

  /** What is left, quoted, for messages. */
  rest(): string {
    return JSON.stringify(this.text.slice(this.pos));
  }
}

/** Parses a PEP 508 requirement; throws RequirementSyntaxError saying what is wrong and where. */
export function parseRequirement(text: string): Requirement {
  const cursor = new Cursor(text);
  cursor.skipSpace();
  if (cursor.done) cursor.fail("it is empty");
  if (cursor.peek() === "-") cursor.fail("pip options are not requirements; put them in pipExtraArgs (an index goes in pipIndex)");
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\/|^\.{0,2}\//.test(text.slice(cursor.pos))) {
    cursor.fail("a URL or path needs the package name in front: write name @ url, e.g. mypkg @ git+https://github.com/org/mypkg@v1");
  }
  const name = cursor.take(NAME) ?? cursor.fail(`expected a package name (letters, digits, '.', '_', '-') at column ${cursor.column}`);
  cursor.skipSpace();
  const extras = cursor.peek() === "[" ? parseExtras(cursor) : [];
  cursor.skipSpace();

  let specifiers: { operator: string; version: string }[] = [];
  let url: string | undefined;
  if (cursor.eat("@")) {
    cursor.skipSpace();
    url = cursor.take(URL_TOKEN) ?? cursor.fail("expected a URL after '@'");
    // PEP 508 reads a ';' touching the URL as part of it, so a marker needs white space before it.
    if (url.endsWith(";")) cursor.fail("a marker after a URL needs white space before the ';' (a ';' right after it is part of the URL)");
    checkUrl(url, cursor);
  } else if (cursor.peek() === "(") {
    cursor.pos++;
    specifiers = parseSpecifiers(cursor);
    cursor.skipSpace();
    if (!cursor.eat(")")) cursor.fail(`expected ')' to close the version list at column ${cursor.column}`);
  } else if (/[<>=!~]/.test(cursor.peek())) {
    specifiers = parseSpecifiers(cursor);
  }
  cursor.skipSpace();

  let marker: string | undefined;
  if (cursor.eat(";")) {
    cursor.skipSpace();
    const start = cursor.pos;
    if (cursor.done) cursor.fail("expected a marker after ';', e.g. sys_platform == 'linux'");
    parseMarkerOr(cursor);
    cursor.skipSpace();
    marker = text.slice(start, cursor.pos).trim();
  }
  if (!cursor.done) {
    if (/\d/.test(cursor.peek()) && specifiers.length === 0 && url === undefined) {
      cursor.fail(`expected a version operator (==, >=, <=, ~=, !=, <, >) before ${cursor.rest()}, e.g. ${name}==${text.slice(cursor.pos).trim()}`);
    }
    cursor.fail(`unexpected ${cursor.rest()} at column ${cursor.column}`);
  }
  return { name, extras, specifiers, ...(url !== undefined ? { url } : {}), ...(marker !== undefined ? { marker } : {}) };
}

/** The problem with a requirement string, or undefined when it is valid PEP 508. */
export function checkRequirement(text: string): string | undefined {
  try {
    parseRequirement(text);
    return undefined;
  } catch (error) {
    if (error instanceof RequirementSyntaxError) return error.problem;
    throw error;
  }
}

function parseExtras(cursor: Cursor): string[] {
  cursor.pos++; // '['
  const extras: string[] = [];
  cursor.skipSpace();
  if (cursor.eat("]")) return extras;
  while (true) {
    cursor.skipSpace();
    extras.push(cursor.take(NAME) ?? cursor.fail(`expected an extra's name at column ${cursor.column}`));
    cursor.skipSpace();
    if (cursor.eat("]")) return extras;
    if (!cursor.eat(",")) cursor.fail(`expected ',' or ']' in the extras at column ${cursor.column}`);
  }
}

function parseSpecifiers(cursor: Cursor): { operator: string; version: string }[] {
  const specifiers: { operator: string; version: string }[] = [];
  while (true) {
    cursor.skipSpace();
    const operator = cursor.take(OPERATOR);
    if (operator === undefined) {
      for (const [mistake, meant] of MISTAKEN_OPERATORS) {
        const wrong = cursor.take(mistake);
        if (wrong !== undefined) cursor.fail(`${JSON.stringify(wrong)} is not a version operator; did you mean ${JSON.stringify(meant)}?`);
      }
      cursor.fail(`expected a version operator (==, >=, <=, ~=, !=, <, >, ===) at column ${cursor.column}`);
    }
    cursor.skipSpace();
    const version = cursor.take(VERSION_CHARS) ?? cursor.fail(`expected a version after ${JSON.stringify(operator)} at column ${cursor.column}`);
    const problem = checkSpecifierVersion(operator, version);
    if (problem) cursor.fail(problem);
    specifiers.push({ operator, version });
    cursor.skipSpace();
    if (!cursor.eat(",")) return specifiers;
  }
}

/** PEP 440's rules for which versions each operator takes. */
function checkSpecifierVersion(operator: string, version: string): string | undefined {
  const quoted = JSON.stringify(version);
  if (operator === "===") return undefined; // arbitrary equality: any string
  if (operator === "==" || operator === "!=") {
    if (version.endsWith(".*")) {
      return PUBLIC_VERSION.test(version.slice(0, -2)) ? undefined : `${quoted} is not a PEP 440 version prefix (like 1.2.*)`;
    }
    return LOCAL_VERSION.test(version) ? undefined : `${quoted} is not a PEP 440 version (like 1.2.3, 2.0rc1, 1.0.post1)`;
  }
  if (version.includes("*")) return `wildcards like ${quoted} only work with == and !=`;
  if (!PUBLIC_VERSION.test(version)) {
    return LOCAL_VERSION.test(version)
      ? `a local version like ${quoted} only works with == and !=`
      : `${quoted} is not a PEP 440 version (like 1.2.3, 2.0rc1, 1.0.post1)`;
  }
  if (operator === "~=" && !/^v?(?:\d+!)?\d+\.\d+/i.test(version)) {
    return `~= needs at least two release numbers (like ~=${version}.0)`;
  }
  return undefined;
}

function checkUrl(url: string, cursor: Cursor): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    cursor.fail(`${JSON.stringify(url)} is not a URL; write name @ scheme://..., e.g. mypkg @ https://example.com/mypkg-1.0-py3-none-any.whl`);
  }
  if (parsed.protocol === "" || (parsed.host === "" && parsed.protocol !== "file:")) {
    cursor.fail(`${JSON.stringify(url)} is not a URL with a host`);
  }
}

// marker_or := marker_and ('or' marker_and)*
function parseMarkerOr(cursor: Cursor): void {
  parseMarkerAnd(cursor);
  while (takeKeyword(cursor, "or")) parseMarkerAnd(cursor);
}

// marker_and := marker_expr ('and' marker_expr)*
function parseMarkerAnd(cursor: Cursor): void {
  parseMarkerExpr(cursor);
  while (takeKeyword(cursor, "and")) parseMarkerExpr(cursor);
}

// marker_expr := '(' marker_or ')' | marker_var marker_op marker_var
function parseMarkerExpr(cursor: Cursor): void {
  cursor.skipSpace();
  if (cursor.eat("(")) {
    parseMarkerOr(cursor);
    cursor.skipSpace();
    if (!cursor.eat(")")) cursor.fail(`expected ')' in the marker at column ${cursor.column}`);
    return;
  }
  parseMarkerVariable(cursor);
  cursor.skipSpace();
  if (cursor.take(MARKER_OPERATOR) === undefined) {
    cursor.fail(`expected a comparison (==, !=, <, <=, >, >=, ~=, in, not in) in the marker at column ${cursor.column}`);
  }
  parseMarkerVariable(cursor);
}

function parseMarkerVariable(cursor: Cursor): void {
  cursor.skipSpace();
  if (cursor.take(QUOTED) !== undefined) return;
  const column = cursor.column;
  const name = cursor.take(IDENTIFIER);
  if (name === undefined) {
    if (cursor.peek() === "'" || cursor.peek() === '"') cursor.fail(`unterminated string in the marker at column ${column}`);
    cursor.fail(`expected a marker variable or a quoted string at column ${column}`);
  }
  if (!MARKER_VARIABLES.includes(name)) {
    const suggestion = closest(name, MARKER_VARIABLES);
    cursor.fail(
      suggestion !== undefined
        ? `${JSON.stringify(name)} is not a marker variable; did you mean ${JSON.stringify(suggestion)}?`
        : `${JSON.stringify(name)} is not a marker variable; if it is a value, quote it: '${name}'`,
    );
  }
}

function takeKeyword(cursor: Cursor, word: string): boolean {
  const start = cursor.pos;
  cursor.skipSpace();
  if (cursor.take(new RegExp(`${word}\\b`, "y")) !== undefined) return true;
  cursor.pos = start;
  return false;
}
