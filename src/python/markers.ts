// PEP 508 environment markers evaluated for the target image (never the host): which entries of a
// lock file apply to linux/arm64 CPython 3.11, or which dependencies of a wheel the target needs.
// Versions compare by PEP 440 (pep440.ts), other values as strings.
import { PythonError } from "./errors.js";
import { parseSpecifierSet, parseVersion, requireVersion, setContains, specifierContains } from "./pep440.js";
import { wheelArchitecture, type PythonTarget } from "./tags.js";
import { normalizeProjectName } from "./wheel-filename.js";

export type MarkerEnvironment = Readonly<Record<string, string>>;

/** The marker variables of CPython on the target Linux image. */
export function markerEnvironment(target: PythonTarget): MarkerEnvironment {
  const version = target.pythonVersion.trim();
  const [major, minor] = version.split(".");
  // A spec that names only 3.11 is any 3.11; markers on a patch level see the lowest (3.11.0).
  const full = version.split(".").length >= 3 ? version : `${major}.${minor}.0`;
  return {
    python_version: `${major}.${minor}`,
    python_full_version: full,
    implementation_version: full,
    os_name: "posix",
    sys_platform: "linux",
    platform_system: "Linux",
    platform_machine: wheelArchitecture(target.platform),
    platform_python_implementation: "CPython",
    implementation_name: "cpython",
    platform_release: "",
    platform_version: "",
  };
}

const VERSION_VARIABLES = new Set(["python_version", "python_full_version", "implementation_version"]);

type Token = { kind: "string" | "name" | "op" | "paren"; text: string };

function tokenize(marker: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*(?:(\(|\))|('[^']*'|"[^"]*")|(===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b|and\b|or\b)|([A-Za-z_][A-Za-z0-9_.]*))/y;
  let pos = 0;
  while (pos < marker.length) {
    if (/^\s*$/.test(marker.slice(pos))) break;
    pattern.lastIndex = pos;
    const match = pattern.exec(marker);
    if (!match) throw markerError(marker, `cannot read ${JSON.stringify(marker.slice(pos).trim())}`);
    pos = pattern.lastIndex;
    if (match[1]) tokens.push({ kind: "paren", text: match[1] });
    else if (match[2]) tokens.push({ kind: "string", text: match[2].slice(1, -1) });
    else if (match[3]) tokens.push({ kind: "op", text: match[3].replace(/\s+/, " ") });
    else tokens.push({ kind: "name", text: match[4]! });
  }
  return tokens;
}

/** Whether the marker holds in the environment; `extras` are the extras requested of the package. */
export function evaluateMarker(marker: string, env: MarkerEnvironment, extras: readonly string[] = []): boolean {
  const tokens = tokenize(marker);
  let i = 0;
  const peek = () => tokens[i];
  const value = (): { text: string; variable?: string } => {
    const token = tokens[i++];
    if (token?.kind === "string") return { text: token.text };
    if (token?.kind === "name") {
      if (token.text === "extra") return { text: "", variable: "extra" };
      const known = env[token.text];
      if (known === undefined) throw markerError(marker, `unknown marker variable ${token.text}`);
      return { text: known, variable: token.text };
    }
    throw markerError(marker, "expected a value");
  };
  const comparison = (): boolean => {
    if (peek()?.text === "(") {
      i++;
      const inner = disjunction();
      if (tokens[i++]?.text !== ")") throw markerError(marker, "a ( is not closed");
      return inner;
    }
    const left = value();
    const op = tokens[i++];
    if (op?.kind !== "op" || op.text === "and" || op.text === "or") throw markerError(marker, "expected a comparison operator");
    const right = value();
    if (left.variable === "extra" || right.variable === "extra") {
      const wanted = normalizeProjectName(left.variable === "extra" ? right.text : left.text);
      const has = extras.map(normalizeProjectName).includes(wanted);
      return op.text === "!=" ? !has : has;
    }
    const versions = VERSION_VARIABLES.has(left.variable ?? right.variable ?? "");
    return compare(left.text, op.text, right.text, versions);
  };
  const conjunction = (): boolean => {
    let result = comparison();
    while (peek()?.text === "and") {
      i++;
      const next = comparison();
      result = result && next;
    }
    return result;
  };
  const disjunction = (): boolean => {
    let result = conjunction();
    while (peek()?.text === "or") {
      i++;
      const next = conjunction();
      result = result || next;
    }
    return result;
  };
  const result = disjunction();
  if (i !== tokens.length) throw markerError(marker, `unexpected ${JSON.stringify(tokens[i]!.text)}`);
  return result;
}

function compare(left: string, op: string, right: string, versions: boolean): boolean {
  switch (op) {
    case "in":
      return right.includes(left);
    case "not in":
      return !right.includes(left);
  }
  // PEP 508: PEP 440 rules when both sides are versions (pre-releases count), else strings.
  const version = parseVersion(left);
  if (version !== undefined) {
    try {
      const [specifier] = parseSpecifierSet(`${op}${right}`);
      if (specifier !== undefined) return specifierContains(specifier, version, left);
    } catch {
      // Not a version specifier: compared as strings below.
    }
  }
  if (op === "==" || op === "===") return left === right;
  if (op === "!=") return left !== right;
  if (versions) throw markerError(`${left} ${op} ${right}`, `${JSON.stringify(left)} or ${JSON.stringify(right)} is not a version`);
  return false;
}

/** Whether a version meets a comma-separated specifier set (`>=3.9,<4`); an empty set allows all. */
export function satisfiesSpecifiers(version: string, specifiers: string): boolean {
  return setContains(parseSpecifierSet(specifiers), requireVersion(version), version);
}

function markerError(marker: string, problem: string): PythonError {
  return new PythonError("PYTHON_RESOLUTION_FAILED", `the marker ${JSON.stringify(marker)}: ${problem}`, { hint: "markers follow PEP 508, e.g. platform_machine == 'x86_64'" });
}
