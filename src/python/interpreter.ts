// Finding the base image's Python from its file listing (no container is run): the interpreter
// `python3` would start in the image (searched along the image's PATH, symlinks followed inside
// the image), its version, and where pip would install packages for it. Layouts known:
//
//   python.org builds (the python:3.x images)  /usr/local/bin/python3.X, /usr/local/lib/python3.X/site-packages
//   Debian's python3 package                   /usr/bin/python3.X; its own packages in /usr/lib/python3/dist-packages,
//                                              pip's in /usr/local/lib/python3.X/dist-packages
//   a virtual environment on PATH              <venv>/bin/python, <venv>/pyvenv.cfg, <venv>/lib/python3.X/site-packages
//   conda / micromamba                         <prefix>/bin/python, <prefix>/conda-meta, <prefix>/lib/python3.X/site-packages
//   any other prefix (pyenv, uv-managed)       <prefix>/bin/python3.X, <prefix>/lib/python3.X/site-packages
import { posix } from "node:path";
import { PythonError } from "./errors.js";
import { prefixScheme, type InstallScheme, type InstallTarget } from "./scheme.js";
import { pythonMajorMinor } from "./tags.js";

/** One path of the base image's merged file system, as the builder reads it from the layers. */
export interface BaseImagePath {
  readonly path: string;
  readonly type: "file" | "dir" | "symlink" | "hardlink" | (string & {});
  readonly linkTarget?: string;
}

export type PythonLayout = "python.org" | "debian" | "venv" | "conda" | "prefix";

export interface DiscoveredPython extends InstallTarget {
  readonly layout: PythonLayout;
  /** `3.11` */
  readonly version: string;
  /** The installation prefix: `/usr/local`, `/usr`, `/opt/venv`, `/opt/conda`. */
  readonly prefix: string;
  /** Where packages are installed (the scheme's purelib). */
  readonly sitePackages: string;
  /** The distribution's own packages when they live elsewhere (Debian). */
  readonly systemSitePackages?: string;
  /** The distribution marks the interpreter as managed by its package manager (PEP 668). */
  readonly externallyManaged: boolean;
}

export interface DiscoverOptions {
  /** The spec's `pythonVersion`; an interpreter of that version is looked for, and its absence is an error. */
  readonly pythonVersion?: string;
  /** The base image reference, for messages. */
  readonly image?: string;
}

/** What a shell in the image has when the config sets no PATH (Docker's default). */
export const DEFAULT_IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Looked at after PATH: conda images do not always put their prefix on it. */
const FALLBACK_DIRS = ["/opt/conda/bin"];
const MAX_SYMLINK_HOPS = 40;

export function discoverPython(files: readonly BaseImagePath[], env: readonly string[] | undefined, options: DiscoverOptions = {}): DiscoveredPython {
  const tree = new ImageTree(files);
  const variables = parseEnv(env ?? []);
  const wanted = options.pythonVersion === undefined ? undefined : pythonMajorMinor(options.pythonVersion).join(".");
  const searchPath = (variables.get("PATH") ?? DEFAULT_IMAGE_PATH).split(":").filter((d) => d.startsWith("/"));
  const virtualEnv = variables.get("VIRTUAL_ENV");
  const dirs = unique([...(virtualEnv ? [posix.join(virtualEnv, "bin")] : []), ...searchPath, ...FALLBACK_DIRS].map(normalizePath));

  const others: DiscoveredPython[] = [];
  for (const dir of dirs) {
    for (const name of candidateNames(tree, dir, wanted)) {
      const found = classify(tree, dir, name);
      if (found === undefined) continue;
      if (wanted === undefined || found.version === wanted) return found;
      if (!others.some((o) => o.interpreter === found.interpreter)) others.push(found);
    }
  }
  const image = options.image ? ` ${options.image}` : "";
  if (others.length > 0) {
    const seen = others.map((o) => `Python ${o.version} (${o.interpreter})`).join(", ");
    throw new PythonError("PYTHON_VERSION_MISMATCH", `the spec asks for Python ${wanted}, but the base image${image} has ${seen}`, {
      hint: `use a base image with Python ${wanted} (e.g. python:${wanted}-slim), or set pythonVersion to ${others[0]!.version} (or leave it out to use the base's Python)`,
    });
  }
  throw new PythonError("PYTHON_NOT_FOUND", `no Python interpreter found in the base image${image} (looked for python3 in ${dirs.join(":")})`, {
    hint: "use a base image with Python (e.g. python:3.12-slim-bookworm, the default base when python_version is set without base_image), or on a Debian/Ubuntu base add python3 to apt_packages",
  });
}

/** Names to try in one directory: the wanted version first, then what `python3` / `python` are, then any python3.X there. */
function candidateNames(tree: ImageTree, dir: string, wanted: string | undefined): string[] {
  const versioned = tree
    .children(tree.resolve(dir)?.path ?? dir)
    .filter((n) => /^python3\.\d+$/.test(n))
    .sort((a, b) => Number(b.slice(8)) - Number(a.slice(8)));
  return unique([...(wanted ? [`python${wanted}`] : []), "python3", "python", ...versioned]);
}

function classify(tree: ImageTree, dir: string, name: string): DiscoveredPython | undefined {
  const executable = tree.resolve(posix.join(dir, name));
  if (executable === undefined || (executable.type !== "file" && executable.type !== "hardlink")) return undefined;
  const binDir = tree.resolve(dir)?.path ?? dir;
  const prefix = posix.dirname(binDir);
  const version = versionOf(posix.basename(executable.path)) ?? versionOf(name) ?? libVersion(tree, prefix);
  if (version === undefined) return undefined;
  const versionedPath = posix.join(binDir, `python${version}`);
  const interpreter = tree.resolve(versionedPath) ? versionedPath : posix.join(binDir, name);
  const managedMarker = (lib: string) => tree.exists(posix.join(lib, `python${version}`, "EXTERNALLY-MANAGED"));

  if (tree.exists(posix.join(prefix, "pyvenv.cfg"))) {
    // A venv's lib directory names the version it was made for, even when bin/python points outside.
    const venvVersion = libVersion(tree, prefix) ?? version;
    const scheme = { ...prefixScheme(prefix, venvVersion), headers: posix.join(prefix, "include", "site", `python${venvVersion}`) };
    const venvInterpreter = tree.resolve(posix.join(binDir, `python${venvVersion}`)) ? posix.join(binDir, `python${venvVersion}`) : interpreter;
    return found("venv", venvVersion, prefix, scheme, venvInterpreter, false);
  }
  if (tree.isDir(posix.join(prefix, "conda-meta"))) {
    return found("conda", version, prefix, prefixScheme(prefix, version), interpreter, false);
  }
  if (prefix === "/usr" && (tree.isDir("/usr/lib/python3/dist-packages") || tree.isDir(`/usr/lib/python${version}`))) {
    // Debian's interpreter: pip installs into /usr/local, which Debian's site.py puts on sys.path.
    const sitePackages = `/usr/local/lib/python${version}/dist-packages`;
    const scheme: InstallScheme = { purelib: sitePackages, platlib: sitePackages, scripts: "/usr/local/bin", data: "/usr/local", headers: `/usr/local/include/python${version}` };
    return { ...found("debian", version, prefix, scheme, interpreter, managedMarker("/usr/lib")), systemSitePackages: "/usr/lib/python3/dist-packages" };
  }
  if (tree.isDir(posix.join(prefix, "lib", `python${version}`))) {
    const layout = prefix === "/usr/local" ? "python.org" : "prefix";
    return found(layout, version, prefix, prefixScheme(prefix, version), interpreter, managedMarker(posix.join(prefix, "lib")));
  }
  return undefined;
}

function found(layout: PythonLayout, version: string, prefix: string, scheme: InstallScheme, interpreter: string, externallyManaged: boolean): DiscoveredPython {
  return { layout, version, prefix, scheme, interpreter, sitePackages: scheme.purelib, externallyManaged };
}

function versionOf(filename: string): string | undefined {
  return /^python(3\.\d+)$/.exec(filename)?.[1];
}

/** The one `lib/python3.X` directory under a prefix; undefined when there is none or several. */
function libVersion(tree: ImageTree, prefix: string): string | undefined {
  const versions = tree
    .children(posix.join(prefix, "lib"))
    .map(versionOf)
    .filter((v): v is string => v !== undefined && tree.isDir(posix.join(prefix, "lib", `python${v}`)));
  return versions.length === 1 ? versions[0] : undefined;
}

function parseEnv(env: readonly string[]): Map<string, string> {
  const variables = new Map<string, string>();
  for (const entry of env) {
    const equals = entry.indexOf("=");
    if (equals > 0) variables.set(entry.slice(0, equals), entry.slice(equals + 1));
  }
  return variables;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function normalizePath(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  return posix.normalize(`/${parts.join("/")}`);
}

/** The listing as a tree that resolves symlinks the way the kernel would inside the image. */
class ImageTree {
  private readonly byPath = new Map<string, BaseImagePath>();
  private readonly childNames = new Map<string, Set<string>>();

  constructor(files: readonly BaseImagePath[]) {
    for (const file of files) {
      const path = normalizePath(file.path);
      if (path === "/") continue;
      this.byPath.set(path, file);
      let child = path;
      while (child !== "/") {
        const parent = posix.dirname(child);
        const names = this.childNames.get(parent) ?? new Set<string>();
        names.add(posix.basename(child));
        this.childNames.set(parent, names);
        child = parent;
      }
    }
  }

  children(dir: string): string[] {
    return [...(this.childNames.get(normalizePath(dir)) ?? [])];
  }

  exists(path: string): boolean {
    return this.resolve(path) !== undefined;
  }

  isDir(path: string): boolean {
    const resolved = this.resolve(path);
    return resolved !== undefined && resolved.type === "dir";
  }

  /** Follows symlinks in every component; undefined when the path does not exist or loops. */
  resolve(path: string): { path: string; type: string } | undefined {
    let pending = normalizePath(path).split("/").filter((p) => p !== "");
    let current = "/";
    let hops = 0;
    while (pending.length > 0) {
      const [component, ...rest] = pending as [string, ...string[]];
      const next = posix.join(current, component);
      const entry = this.byPath.get(next);
      if (entry === undefined && !this.childNames.has(next)) return undefined;
      if (entry?.type === "symlink") {
        if (++hops > MAX_SYMLINK_HOPS || !entry.linkTarget) return undefined;
        const target = entry.linkTarget.startsWith("/") ? entry.linkTarget : posix.join(current, entry.linkTarget);
        pending = [...normalizePath(target).split("/").filter((p) => p !== ""), ...rest];
        current = "/";
        continue;
      }
      current = next;
      pending = rest;
    }
    if (current === "/") return { path: "/", type: "dir" };
    return { path: current, type: this.byPath.get(current)?.type ?? "dir" };
  }
}
