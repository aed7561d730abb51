// apt sources: the one-line format of sources.list and sources.list.d/*.list
// (`deb [opts] URI suite [component...]`) and the deb822 format of sources.list.d/*.sources
// (`Types:`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`, ...). Only `deb` entries matter
// here; `deb-src` and disabled entries are dropped.
import { parseParagraphs, field } from "./control.js";
import { AptError } from "./errors.js";

export interface SourceEntry {
  /** Archive root, no trailing slash: `http://deb.debian.org/debian`. */
  readonly uri: string;
  /** `bookworm`, `bookworm-updates`, or a flat-repository path ending in `/`. */
  readonly suite: string;
  /** Empty for a flat repository. */
  readonly components: readonly string[];
  /** Architectures the entry is limited to (`[arch=amd64]`, `Architectures:`). */
  readonly architectures?: readonly string[];
  /** Keyring paths in the image, or an inline armored key block (deb822 `Signed-By:` with a key). */
  readonly signedBy?: readonly string[];
  readonly signedByKey?: string;
  /** `[trusted=yes]`: apt skips verification. imagespec does not: kept only to report. */
  readonly trusted?: boolean;
  /** The file it came from, for messages. */
  readonly origin: string;
}

/** Parses one-line `sources.list` text. */
export function parseSourcesList(text: string, origin = "sources.list"): SourceEntry[] {
  const out: SourceEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)((?:\s+\S+)*)$/.exec(line);
    if (!m) {
      throw new AptError("APT_BAD_SOURCES", `${origin}:${i + 1}: cannot read ${JSON.stringify(line)}`, {
        hint: "write apt sources as `deb [options] URI suite component...`",
      });
    }
    const [, type, opts, uri, suite, rest] = m;
    if (type !== "deb") return;
    const options = parseOptions(opts ?? "");
    const components = (rest ?? "").split(/\s+/).filter(Boolean);
    out.push(entry(uri!, suite!, components, options.get("arch"), options.get("signed-by"), undefined, options.get("trusted")?.[0] === "yes", `${origin}:${i + 1}`));
  });
  return out;
}

function parseOptions(text: string): Map<string, string[]> {
  const options = new Map<string, string[]>();
  for (const option of text.trim().split(/\s+/).filter(Boolean)) {
    const eq = option.indexOf("=");
    if (eq <= 0) continue;
    options.set(option.slice(0, eq).replace(/[+-]$/, "").toLowerCase(), option.slice(eq + 1).split(","));
  }
  return options;
}

/** Parses deb822 `.sources` text. */
export function parseDeb822Sources(text: string, origin = "sources"): SourceEntry[] {
  const out: SourceEntry[] = [];
  parseParagraphs(text).forEach((p, i) => {
    const where = `${origin} (paragraph ${i + 1})`;
    const words = (name: string) => (field(p, name) ?? "").split(/\s+/).filter(Boolean);
    if ((field(p, "Enabled") ?? "yes").toLowerCase() === "no") return;
    if (!words("Types").includes("deb")) return;
    const uris = words("URIs");
    const suites = words("Suites");
    if (uris.length === 0 || suites.length === 0) {
      throw new AptError("APT_BAD_SOURCES", `${where}: a deb822 source needs URIs and Suites`, { hint: "see sources.list(5), DEB822-STYLE FORMAT" });
    }
    const signed = field(p, "Signed-By");
    const inlineKey = signed !== undefined && signed.includes("BEGIN PGP PUBLIC KEY BLOCK") ? signed.replace(/^\.$/gm, "") : undefined;
    const keyPaths = signed !== undefined && inlineKey === undefined ? signed.split(/[\s,]+/).filter(Boolean) : undefined;
    const arches = words("Architectures");
    for (const uri of uris) {
      for (const suite of suites) {
        out.push(entry(uri, suite, words("Components"), arches.length > 0 ? arches : undefined, keyPaths, inlineKey, (field(p, "Trusted") ?? "").toLowerCase() === "yes", where));
      }
    }
  });
  return out;
}

function entry(
  uri: string,
  suite: string,
  components: readonly string[],
  architectures: readonly string[] | undefined,
  signedBy: readonly string[] | undefined,
  signedByKey: string | undefined,
  trusted: boolean,
  origin: string,
): SourceEntry {
  return {
    uri: uri.replace(/\/+$/, ""),
    suite,
    components,
    ...(architectures !== undefined ? { architectures } : {}),
    ...(signedBy !== undefined ? { signedBy } : {}),
    ...(signedByKey !== undefined ? { signedByKey } : {}),
    ...(trusted ? { trusted } : {}),
    origin,
  };
}

/** The base's sources from its files: `sources.list` first, then `sources.list.d` in name order. */
export function sourcesFromFiles(files: ReadonlyMap<string, Buffer>): SourceEntry[] {
  const out: SourceEntry[] = [];
  const main = files.get("/etc/apt/sources.list");
  if (main !== undefined) out.push(...parseSourcesList(main.toString("utf8"), "/etc/apt/sources.list"));
  const parts = [...files.keys()].filter((p) => p.startsWith("/etc/apt/sources.list.d/")).sort();
  for (const path of parts) {
    const text = files.get(path)!.toString("utf8");
    if (path.endsWith(".list")) out.push(...parseSourcesList(text, path));
    else if (path.endsWith(".sources")) out.push(...parseDeb822Sources(text, path));
  }
  return out;
}

/** Entries with the archive URI replaced (the spec's mirror override); every entry of the main archive host moves. */
export function withMirror(entries: readonly SourceEntry[], mirror: string): SourceEntry[] {
  const target = mirror.replace(/\/+$/, "");
  const first = entries[0]?.uri;
  return entries.map((e) => (e.uri === first ? { ...e, uri: target } : e));
}
