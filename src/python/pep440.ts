// PEP 440 versions and specifiers, as pip (packaging) reads and compares them: epochs, release
// numbers of any length (1.0 == 1.0.0), pre-, post- and dev-releases, local labels, and every
// operator (~=, ==, ==x.*, !=, <, <=, >, >=, ===) with the rules the spec adds: `<V` and `>V`
// exclude pre-/post-releases of V itself, and pre-releases count only when asked for or when
// nothing else matches.
import { PythonError } from "./errors.js";

export interface Version {
  readonly epoch: number;
  readonly release: readonly number[];
  /** `a`, `b` or `rc` with its number. */
  readonly pre?: readonly [string, number];
  readonly post?: number;
  readonly dev?: number;
  /** The local label's parts (`ubuntu.1` -> ["ubuntu", 1]). */
  readonly local?: readonly (string | number)[];
}

const VERSION_PATTERN =
  /^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(alpha|beta|preview|pre|rc|a|b|c)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$/i;

const PRE_SPELLINGS: Record<string, string> = { alpha: "a", a: "a", beta: "b", b: "b", c: "rc", pre: "rc", preview: "rc", rc: "rc" };

/** The version, or undefined when the text is not PEP 440 (pip ignores such files). */
export function parseVersion(text: string): Version | undefined {
  const m = VERSION_PATTERN.exec(text);
  if (!m) return undefined;
  const [, epoch, release, preL, preN, postImplicit, postL, postN, devL, devN, local] = m;
  return {
    epoch: epoch === undefined ? 0 : Number(epoch),
    release: release!.split(".").map(Number),
    ...(preL !== undefined ? { pre: [PRE_SPELLINGS[preL.toLowerCase()]!, Number(preN ?? 0)] as const } : {}),
    ...(postImplicit !== undefined ? { post: Number(postImplicit) } : postL !== undefined ? { post: Number(postN ?? 0) } : {}),
    ...(devL !== undefined ? { dev: Number(devN ?? 0) } : {}),
    ...(local !== undefined ? { local: local.toLowerCase().split(/[-_.]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p)) } : {}),
  };
}

/** A version or a PythonError naming it. */
export function requireVersion(text: string): Version {
  const version = parseVersion(text);
  if (version === undefined) throw new PythonError("PYTHON_RESOLUTION_FAILED", `${JSON.stringify(text)} is not a PEP 440 version`);
  return version;
}

/** The canonical spelling: `1.0-RC.1` -> `1.0rc1`. */
export function formatVersion(v: Version): string {
  let text = `${v.epoch !== 0 ? `${v.epoch}!` : ""}${v.release.join(".")}`;
  if (v.pre) text += `${v.pre[0]}${v.pre[1]}`;
  if (v.post !== undefined) text += `.post${v.post}`;
  if (v.dev !== undefined) text += `.dev${v.dev}`;
  if (v.local) text += `+${v.local.join(".")}`;
  return text;
}

export function isPrerelease(v: Version): boolean {
  return v.pre !== undefined || v.dev !== undefined;
}

function withoutLocal(v: Version): Version {
  const { local: _local, ...rest } = v;
  return rest;
}

const PRE_ORDER: Record<string, number> = { a: 0, b: 1, rc: 2 };

/** Negative, zero or positive as a sorts before, with or after b (packaging's order). */
export function compareVersion(a: Version, b: Version): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  const length = Math.max(a.release.length, b.release.length);
  for (let i = 0; i < length; i++) {
    const diff = (a.release[i] ?? 0) - (b.release[i] ?? 0);
    if (diff !== 0) return diff;
  }
  // Within a release: dev-only < pre (each with its own dev first) < release < post; dev sorts before its non-dev twin.
  const phase = (v: Version): number[] => {
    const pre = v.pre ? [PRE_ORDER[v.pre[0]]!, v.pre[1]] : v.post === undefined && v.dev !== undefined ? [-1, 0] : [3, 0];
    const post = v.post === undefined ? -1 : v.post;
    const dev = v.dev === undefined ? Infinity : v.dev;
    return [...pre, post, dev];
  };
  const pa = phase(a);
  const pb = phase(b);
  for (let i = 0; i < pa.length; i++) {
    if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return compareLocal(a.local, b.local);
}

function compareLocal(a: Version["local"], b: Version["local"]): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    if (x === y) continue;
    // Numeric parts sort after alphanumeric ones, numbers by value, strings lexically.
    if (typeof x !== typeof y) return typeof x === "number" ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return 0;
}

export interface Specifier {
  readonly operator: "~=" | "==" | "!=" | "<=" | ">=" | "<" | ">" | "===";
  /** As written after the operator (with `.*` for a prefix match). */
  readonly version: string;
}

const SPECIFIER = /^\s*(~=|===|==|!=|<=|>=|<|>)\s*([^\s,;]+)\s*$/;

/** `>=1.0, !=1.3.*, <2` -> its specifiers; a PythonError for anything PEP 440 does not allow. */
export function parseSpecifierSet(text: string): Specifier[] {
  const parts = text.split(",").map((s) => s.trim());
  if (parts.length === 1 && parts[0] === "") return [];
  return parts.map((part) => {
    const m = SPECIFIER.exec(part);
    if (!m) throw new PythonError("PYTHON_RESOLUTION_FAILED", `cannot read the version specifier ${JSON.stringify(part)}`);
    const specifier = { operator: m[1] as Specifier["operator"], version: m[2]! };
    checkSpecifier(specifier);
    return specifier;
  });
}

function checkSpecifier(s: Specifier): void {
  if (s.operator === "===") return;
  const wildcard = s.version.endsWith(".*");
  const bad = (why: string) => new PythonError("PYTHON_RESOLUTION_FAILED", `the version specifier ${s.operator}${s.version}: ${why}`);
  if (wildcard && s.operator !== "==" && s.operator !== "!=") throw bad("a .* prefix only works with == and !=");
  const version = parseVersion(wildcard ? s.version.slice(0, -2) : s.version);
  if (version === undefined) throw bad("not a PEP 440 version");
  if (version.local && s.operator !== "==" && s.operator !== "!=") throw bad("a local version only works with == and !=");
  if (s.operator === "~=" && version.release.length < 2) throw bad("~= needs at least two release numbers");
}

/** Whether the specifier admits the version (pre-release policy is the set's business). */
export function specifierContains(s: Specifier, candidate: Version, candidateText = formatVersion(candidate)): boolean {
  if (s.operator === "===") return candidateText.trim().toLowerCase() === s.version.toLowerCase();
  if (s.version.endsWith(".*")) {
    const matches = prefixMatches(requireVersion(s.version.slice(0, -2)), candidate);
    return s.operator === "==" ? matches : !matches;
  }
  const spec = requireVersion(s.version);
  switch (s.operator) {
    case "==":
    case "!=": {
      // A spec without a local label matches any local build of the version.
      const equal = compareVersion(spec.local ? candidate : withoutLocal(candidate), spec) === 0;
      return s.operator === "==" ? equal : !equal;
    }
    case "<=":
      return compareVersion(withoutLocal(candidate), spec) <= 0;
    case ">=":
      return compareVersion(withoutLocal(candidate), spec) >= 0;
    case "<": {
      const public_ = withoutLocal(candidate);
      if (compareVersion(public_, spec) >= 0) return false;
      // <3.0 does not admit 3.0rc1 unless the spec is itself a pre-release.
      return !(!isPrerelease(spec) && isPrerelease(candidate) && sameRelease(candidate, spec));
    }
    case ">": {
      const public_ = withoutLocal(candidate);
      if (compareVersion(public_, spec) <= 0) return false;
      // >3.0 does not admit 3.0.post1 unless the spec is a post-release; nor 3.0+local.
      if (spec.post === undefined && candidate.post !== undefined && sameRelease(candidate, spec)) return false;
      return true;
    }
    case "~=": {
      const prefix: Version = { epoch: spec.epoch, release: spec.release.slice(0, -1) };
      return compareVersion(withoutLocal(candidate), spec) >= 0 && prefixMatches(prefix, candidate);
    }
  }
  return false;
}

function sameRelease(a: Version, b: Version): boolean {
  return a.epoch === b.epoch && compareVersion({ epoch: 0, release: a.release }, { epoch: 0, release: b.release }) === 0;
}

/** `==1.2.*`: the release starts with 1.2 (zero-padded); a prefix with a pre/post/dev part must match it too. */
function prefixMatches(prefix: Version, candidate: Version): boolean {
  if (prefix.epoch !== candidate.epoch) return false;
  for (let i = 0; i < prefix.release.length; i++) {
    if ((candidate.release[i] ?? 0) !== prefix.release[i]) return false;
  }
  if (prefix.pre && (candidate.release.length > prefix.release.length || candidate.pre?.[0] !== prefix.pre[0] || candidate.pre[1] !== prefix.pre[1])) return false;
  if (prefix.post !== undefined && candidate.post !== prefix.post) return false;
  if (prefix.dev !== undefined && candidate.dev !== prefix.dev) return false;
  return true;
}

/** Whether a specifier names a pre-release, which lets the set admit pre-releases (packaging's rule). */
function namesPrerelease(s: Specifier): boolean {
  if (s.operator === "!=" || s.operator === "<" || s.operator === ">") return false;
  if (s.operator === "===") return parseVersion(s.version) !== undefined && isPrerelease(parseVersion(s.version)!);
  const version = parseVersion(s.version.endsWith(".*") ? s.version.slice(0, -2) : s.version);
  return version !== undefined && isPrerelease(version);
}

/** Whether every specifier admits the version, pre-releases aside. */
export function setContains(specifiers: readonly Specifier[], version: Version, text?: string): boolean {
  return specifiers.every((s) => specifierContains(s, version, text));
}

/**
 * The candidates the set admits, in the order given. Pre-releases pass when `prereleases` is
 * true, when a specifier names one, or when nothing else passes (PEP 440's rule, which packaging
 * 25 applies to every set; pip before it did so only for an empty set).
 */
export function filterVersions<T>(candidates: readonly T[], specifiers: readonly Specifier[], versionOf: (c: T) => Version, prereleases = false): T[] {
  const allow = prereleases || specifiers.some(namesPrerelease);
  const matching = candidates.filter((c) => setContains(specifiers, versionOf(c)));
  if (allow) return matching;
  const finals = matching.filter((c) => !isPrerelease(versionOf(c)));
  return finals.length > 0 ? finals : matching;
}
