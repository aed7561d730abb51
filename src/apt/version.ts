// Debian versions and package relations (Debian Policy 5.6.12 and 7.1): comparing
// `[epoch:]upstream[-revision]` the way dpkg does, and parsing `Depends`-style fields into
// alternatives with version constraints and architecture qualifiers.

interface Parts {
  epoch: number;
  upstream: string;
  revision: string;
}

function split(version: string): Parts {
  const v = version.trim();
  const colon = v.indexOf(":");
  const epoch = colon > 0 && /^\d+$/.test(v.slice(0, colon)) ? Number(v.slice(0, colon)) : 0;
  const rest = colon > 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf("-");
  return dash >= 0 ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) } : { epoch, upstream: rest, revision: "" };
}

/** dpkg's character order: `~` before everything (even the end), then the end, then letters, then the rest. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === "~") return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

/** dpkg's verrevcmp: alternating non-digit and digit runs. */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let first = 0;
    while ((i < a.length && !isDigit(a[i]!)) || (j < b.length && !isDigit(b[j]!))) {
      const ac = i < a.length && !isDigit(a[i]!) ? order(a[i]) : 0;
      const bc = j < b.length && !isDigit(b[j]!) ? order(b[j]) : 0;
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === "0") i++;
    while (b[j] === "0") j++;
    while (i < a.length && isDigit(a[i]!) && j < b.length && isDigit(b[j]!)) {
      if (first === 0) first = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a[i]!)) return 1;
    if (j < b.length && isDigit(b[j]!)) return -1;
    if (first !== 0) return first;
  }
  return 0;
}

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. */
export function compareVersions(a: string, b: string): number {
  const pa = split(a);
  const pb = split(b);
  if (pa.epoch !== pb.epoch) return Math.sign(pa.epoch - pb.epoch);
  const upstream = compareFragment(pa.upstream, pb.upstream);
  if (upstream !== 0) return Math.sign(upstream);
  return Math.sign(compareFragment(pa.revision, pb.revision));
}

export type Relation = "<<" | "<=" | "=" | ">=" | ">>";

export interface VersionConstraint {
  readonly relation: Relation;
  readonly version: string;
}

/** Whether `version` meets `constraint` (no constraint: any version). */
export function satisfies(version: string, constraint: VersionConstraint | undefined): boolean {
  if (constraint === undefined) return true;
  const c = compareVersions(version, constraint.version);
  switch (constraint.relation) {
    case "<<":
      return c < 0;
    case "<=":
      return c <= 0;
    case "=":
      return c === 0;
    case ">=":
      return c >= 0;
    case ">>":
      return c > 0;
  }
}

/** One package named in a relation: `name[:arch] [(op version)]`. */
export interface Dependency {
  readonly name: string;
  /** `any`, `native` or an architecture name, when qualified. */
  readonly arch?: string;
  readonly constraint?: VersionConstraint;
}

/** `a | b (>= 1)`: satisfied by any one of its alternatives. */
export type DependencyGroup = readonly Dependency[];

const RELATION = /^\s*([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^)\s]+)\s*\))?\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$/;

/** Parses `Depends`, `Pre-Depends` or `Provides` text into groups of alternatives. */
export function parseRelations(text: string | undefined): DependencyGroup[] {
  if (text === undefined || text.trim() === "") return [];
  return text
    .replace(/\n/g, " ")
    .split(",")
    .filter((g) => g.trim() !== "")
    .map((group) =>
      group.split("|").map((alt) => {
        const m = RELATION.exec(alt);
        if (!m) throw new Error(`cannot parse package relation ${JSON.stringify(alt.trim())}`);
        const [, name, arch, op, version] = m;
        // `<` and `>` are obsolete spellings of `<=` and `>=`.
        const relation = op === "<" ? "<=" : op === ">" ? ">=" : (op as Relation | undefined);
        return {
          name: name!,
          ...(arch !== undefined ? { arch } : {}),
          ...(relation !== undefined && version !== undefined ? { constraint: { relation, version } } : {}),
        };
      }),
    );
}

export function formatDependency(dep: Dependency): string {
  return `${dep.name}${dep.arch ? `:${dep.arch}` : ""}${dep.constraint ? ` (${dep.constraint.relation} ${dep.constraint.version})` : ""}`;
}

export function formatGroup(group: DependencyGroup): string {
  return group.map(formatDependency).join(" | ");
}
