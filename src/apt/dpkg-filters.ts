// dpkg's path filters (`path-exclude=GLOB`, `path-include=GLOB` in /etc/dpkg/dpkg.cfg and
// /etc/dpkg/dpkg.cfg.d/*), which slim images use to keep documentation and man pages out. dpkg
// applies them in order, the last matching one deciding, with shell globs whose `*` also matches
// `/` (fnmatch without FNM_PATHNAME). Directories stay when a file below them stays.

export interface PathFilter {
  readonly include: boolean;
  readonly pattern: RegExp;
  readonly glob: string;
}

export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) out += "\\[";
      else {
        const body = glob.slice(i + 1, close);
        out += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
        i = close;
      }
    } else if (c === "\\" && i + 1 < glob.length) out += `\\${glob[++i]}`;
    else out += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/** The filters of dpkg configuration text, in order. */
export function parseDpkgFilters(text: string): PathFilter[] {
  const out: PathFilter[] = [];
  for (const raw of text.split("\n")) {
    const m = /^\s*(path-exclude|path-include)(?:\s*=\s*|\s+)(\S+)\s*$/.exec(raw);
    if (!m) continue;
    out.push({ include: m[1] === "path-include", pattern: globToRegExp(m[2]!), glob: m[2]! });
  }
  return out;
}

/** The filters of a base: dpkg.cfg, then dpkg.cfg.d/* in name order (as dpkg reads them). */
export function dpkgFiltersFromFiles(files: ReadonlyMap<string, Buffer>): PathFilter[] {
  const out: PathFilter[] = [];
  const main = files.get("/etc/dpkg/dpkg.cfg");
  if (main !== undefined) out.push(...parseDpkgFilters(main.toString("utf8")));
  for (const path of [...files.keys()].filter((p) => p.startsWith("/etc/dpkg/dpkg.cfg.d/")).sort()) out.push(...parseDpkgFilters(files.get(path)!.toString("utf8")));
  return out;
}

/** Whether dpkg would leave this absolute path out. */
export function isExcluded(path: string, filters: readonly PathFilter[]): boolean {
  let excluded = false;
  for (const filter of filters) if (filter.pattern.test(path)) excluded = !filter.include;
  return excluded;
}
