// Lock files as requirements (`requirements: uv.lock` or `poetry.lock`, as flytekit accepts them):
// the lock already names every package, version, file and hash, so nothing is resolved. For one
// target image this picks exactly the locked set that applies there (markers evaluated for the
// target) and, per package, the best locked wheel for the target; the download then checks each
// file against the lock's hash. What `uv sync --locked --no-dev --no-install-project` and
// `poetry install --no-root` install, flytekit's commands: the project's own package is not
// installed, and the pyproject.toml beside the lock is required (it says which Poetry groups are
// optional, and uv and Poetry refuse a lock without it).
import { readFile } from "node:fs/promises";
import { parse as parseToml } from "smol-toml";
import { fetch } from "undici";
import { lockKindOf, pyprojectBeside, type LockKind } from "../spec/index.js";
import { indexCredentialsFor, proxyDispatcher } from "./download.js";
import { PythonError, redactUrl } from "./errors.js";
import { evaluateMarker, markerEnvironment, satisfiesSpecifiers, type MarkerEnvironment } from "./markers.js";
import type { ResolvedWheel } from "./resolution.js";
import { normalizeProjectName } from "./wheel-filename.js";
import { describeTarget, wheelRank, type PythonTarget } from "./tags.js";

export { lockKindOf, pyprojectBeside, type LockKind };

/** The lock and its pyproject.toml, as text: together they decide what installs (and the cache key). */
export async function readLock(lockPath: string): Promise<{ kind: LockKind; lock: string; pyproject: string }> {
  const kind = lockKindOf(lockPath);
  if (kind === undefined) throw new Error(`readLock: ${lockPath} is not a lock file`);
  const read = async (path: string, what: string, hint: string) => {
    try {
      return await readFile(path, "utf8");
    } catch (error) {
      throw new PythonError("PYTHON_LOCK_INVALID", `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { hint, cause: error });
    }
  };
  const lock = await read(lockPath, "the lock file", "the requirements path is relative to the spec file; check that it exists");
  const pyproject = await read(pyprojectBeside(lockPath), `the pyproject.toml of ${kind}`, `a ${kind} needs the project's pyproject.toml in the same folder (uv and Poetry refuse a lock without it)`);
  return { kind, lock, pyproject };
}

export interface LockedInstallOptions {
  /** The spec's pipIndex: where Poetry's files are looked up when the lock names no source (default PyPI). */
  readonly indexUrl?: string;
  readonly extraIndexUrls?: readonly string[];
  readonly signal?: AbortSignal;
}

/** The locked wheels that install on the target, one per package, sorted by name. */
export async function lockedWheels(lockPath: string, target: PythonTarget, options: LockedInstallOptions = {}): Promise<ResolvedWheel[]> {
  const { kind, lock, pyproject } = await readLock(lockPath);
  const lockDoc = parseTomlOf(lock, lockPath);
  const projectDoc = parseTomlOf(pyproject, pyprojectBeside(lockPath));
  const env = markerEnvironment(target);
  const wheels = kind === "uv.lock" ? uvLockWheels(lockDoc, lockPath, target, env) : await poetryLockWheels(lockDoc, projectDoc, lockPath, target, env, options);
  return wheels.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

type Table = Record<string, unknown>;

function parseTomlOf(text: string, path: string): Table {
  try {
    return parseToml(text) as Table;
  } catch (error) {
    throw new PythonError("PYTHON_LOCK_INVALID", `${path} is not valid TOML: ${(error as Error).message.split("\n")[0]}`, {
      hint: "regenerate it (uv lock, or poetry lock)",
      cause: error,
    });
  }
}

function invalid(path: string, problem: string): PythonError {
  return new PythonError("PYTHON_LOCK_INVALID", `${path}: ${problem}`, { hint: "regenerate the lock (uv lock, or poetry lock) and check it in beside pyproject.toml" });
}

const tables = (value: unknown): Table[] => (Array.isArray(value) ? value.filter((v): v is Table => typeof v === "object" && v !== null && !Array.isArray(v)) : []);
const text = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);

/** The best locked wheel for the target (pip's tag order); a locked package with none is an error. */
function pickWheel(
  lockPath: string,
  name: string,
  version: string,
  files: readonly { filename: string; url?: string; hash?: string }[],
  target: PythonTarget,
): { filename: string; url?: string; sha256: string } {
  let best: { filename: string; url?: string; hash?: string; rank: number } | undefined;
  for (const file of files) {
    if (!file.filename.endsWith(".whl")) continue;
    const rank = wheelRank(file.filename, target);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { ...file, rank };
  }
  if (best === undefined) {
    throw new PythonError("PYTHON_NO_WHEEL_FOR_TARGET", `${lockPath} locks ${name} ${version}, but none of its locked wheels runs on ${describeTarget(target)}`, {
      hint: "lock a version that publishes a wheel for this platform (uv lock / poetry lock), or use a Dockerfile builder (builder: buildah or docker), which can compile source distributions",
    });
  }
  const match = /^sha256:([0-9a-fA-F]{64})$/.exec(best.hash ?? "");
  if (!match) throw invalid(lockPath, `${best.filename} has no sha256 hash (a lock names every file's hash; found ${JSON.stringify(best.hash ?? null)})`);
  return { filename: best.filename, ...(best.url !== undefined ? { url: best.url } : {}), sha256: match[1]!.toLowerCase() };
}

// ---------------------------------------------------------------------------------------------
// uv.lock: a graph from the project at "." through its dependencies, each edge with its marker.

function uvLockWheels(doc: Table, lockPath: string, target: PythonTarget, env: MarkerEnvironment): ResolvedWheel[] {
  if (doc.version !== 1) throw invalid(lockPath, `uv.lock version ${JSON.stringify(doc.version ?? null)} is not one imagespec reads (1)`);
  const requiresPython = text(doc["requires-python"]);
  if (requiresPython !== undefined && !satisfiesSpecifiers(env.python_full_version!, requiresPython)) {
    throw new PythonError("PYTHON_VERSION_MISMATCH", `${lockPath} requires Python ${requiresPython}, but the image's Python is ${target.pythonVersion}`, {
      hint: "set python_version (or a base image) that the lock allows, or relock for this Python",
    });
  }
  const packages = tables(doc.package);
  const isRoot = (pkg: Table) => {
    const source = pkg.source as Table | undefined;
    return source !== undefined && (source.virtual === "." || source.editable === "." || source.directory === ".");
  };
  const roots = packages.filter(isRoot);
  if (roots.length === 0) throw invalid(lockPath, 'no package has source { virtual = "." } or { editable = "." }: the project itself is missing');

  const find = (edge: Table, from: string): Table => {
    const name = normalizeProjectName(text(edge.name) ?? "");
    const version = text(edge.version);
    const candidates = packages.filter((p) => normalizeProjectName(text(p.name) ?? "") === name && (version === undefined || p.version === version));
    if (candidates.length !== 1) throw invalid(lockPath, `${from} depends on ${name}${version ? ` ${version}` : ""}, which the lock holds ${candidates.length} times`);
    return candidates[0]!;
  };

  // Walk: each package once per extra set it is asked for; an edge applies when its marker holds.
  const chosen = new Map<Table, Set<string>>();
  const queue: { pkg: Table; extras: readonly string[] }[] = roots.map((pkg) => ({ pkg, extras: [] }));
  while (queue.length > 0) {
    const { pkg, extras } = queue.shift()!;
    const seen = chosen.get(pkg) ?? new Set<string>();
    const fresh = chosen.has(pkg) ? extras.filter((e) => !seen.has(e)) : ["", ...extras];
    if (fresh.length === 0) continue;
    chosen.set(pkg, new Set([...seen, ...fresh]));
    const name = text(pkg.name) ?? "?";
    const optional = (pkg["optional-dependencies"] ?? {}) as Table;
    const edges = fresh.flatMap((extra) => (extra === "" ? tables(pkg.dependencies) : tables(optional[extra])));
    for (const edge of edges) {
      const marker = text(edge.marker);
      if (marker !== undefined && !evaluateMarker(marker, env, extras)) continue;
      const wanted = Array.isArray(edge.extra) ? edge.extra.filter((e): e is string => typeof e === "string") : [];
      queue.push({ pkg: find(edge, name), extras: wanted });
    }
  }

  const wheels: ResolvedWheel[] = [];
  for (const pkg of chosen.keys()) {
    if (isRoot(pkg)) continue; // --no-install-project
    const name = normalizeProjectName(text(pkg.name) ?? "");
    const version = text(pkg.version) ?? "";
    const source = (pkg.source ?? {}) as Table;
    if (text(source.registry) === undefined && text(source.url) === undefined) {
      throw new PythonError("PYTHON_NO_WHEEL_FOR_TARGET", `${lockPath} locks ${name} from ${JSON.stringify(source)}, which the native builder cannot install (only locked wheels from an index or URL)`, {
        hint: "use a Dockerfile builder (builder: buildah or docker), which runs uv sync in the image",
      });
    }
    const files = tables(pkg.wheels).map((w) => {
      const url = text(w.url) ?? "";
      return { filename: decodeURIComponent(url.slice(url.lastIndexOf("/") + 1).split(/[?#]/)[0] ?? ""), url, ...(text(w.hash) ? { hash: text(w.hash)! } : {}) };
    });
    const wheel = pickWheel(lockPath, name, version, files, target);
    wheels.push({ name, version, url: wheel.url!, sha256: wheel.sha256, filename: wheel.filename });
  }
  return wheels;
}

// ---------------------------------------------------------------------------------------------
// poetry.lock (lock-version 2.1, Poetry 2): each package says its groups and, per group, the marker
// under which it installs; `poetry install --no-root` installs every group pyproject.toml does not
// mark optional. Files carry names and hashes but no URLs: they are found on the package's source
// (or the spec's index, else PyPI).

const PYPI_SIMPLE = "https://pypi.org/simple/";

async function poetryLockWheels(doc: Table, pyproject: Table, lockPath: string, target: PythonTarget, env: MarkerEnvironment, options: LockedInstallOptions): Promise<ResolvedWheel[]> {
  const metadata = (doc.metadata ?? {}) as Table;
  const lockVersion = text(metadata["lock-version"]);
  if (lockVersion === undefined || !/^2\.\d+$/.test(lockVersion) || Number(lockVersion.split(".")[1]) < 1) {
    throw new PythonError("PYTHON_LOCK_INVALID", `${lockPath} has lock-version ${JSON.stringify(lockVersion ?? null)}; imagespec reads 2.1 and later (Poetry 2), where each package names its groups and markers`, {
      hint: "regenerate it with Poetry 2 (poetry lock), or use a Dockerfile builder (builder: buildah or docker), which runs poetry install in the image",
    });
  }
  const pythonVersions = text(metadata["python-versions"]);
  if (pythonVersions !== undefined && /^[<>=!~0-9., *]+$/.test(pythonVersions) && !satisfiesSpecifiers(env.python_full_version!, pythonVersions)) {
    throw new PythonError("PYTHON_VERSION_MISMATCH", `${lockPath} is for Python ${pythonVersions}, but the image's Python is ${target.pythonVersion}`, {
      hint: "set python_version (or a base image) that the lock allows, or relock for this Python",
    });
  }
  const groupsTable = (((pyproject.tool as Table | undefined)?.poetry as Table | undefined)?.group ?? {}) as Table;
  const optionalGroups = new Set(Object.entries(groupsTable).filter(([, g]) => (g as Table | undefined)?.optional === true).map(([name]) => name));

  const wheels: ResolvedWheel[] = [];
  for (const pkg of tables(doc.package)) {
    const name = normalizeProjectName(text(pkg.name) ?? "");
    const version = text(pkg.version) ?? "";
    if (pkg.optional === true) continue; // an extra's package: poetry install without -E leaves it out
    const groups = Array.isArray(pkg.groups) ? pkg.groups.filter((g): g is string => typeof g === "string") : [];
    if (groups.length === 0) throw invalid(lockPath, `package ${name} names no groups`);
    const markers = pkg.markers;
    const applies = groups.some((group) => {
      if (optionalGroups.has(group)) return false;
      const marker = typeof markers === "string" ? markers : text((markers as Table | undefined)?.[group]);
      return marker === undefined || evaluateMarker(marker, env);
    });
    if (!applies) continue;
    const source = (pkg.source ?? {}) as Table;
    const sourceType = text(source.type);
    if (sourceType !== undefined && sourceType !== "legacy") {
      throw new PythonError("PYTHON_NO_WHEEL_FOR_TARGET", `${lockPath} locks ${name} from a ${sourceType} source, which the native builder cannot install (only locked wheels from an index)`, {
        hint: "use a Dockerfile builder (builder: buildah or docker), which runs poetry install in the image",
      });
    }
    const files = tables(pkg.files).map((f) => ({ filename: text(f.file) ?? "", ...(text(f.hash) ? { hash: text(f.hash)! } : {}) }));
    const wheel = pickWheel(lockPath, name, version, files, target);
    const index = text(source.url) ?? options.indexUrl ?? PYPI_SIMPLE;
    const url = await findFileOnIndex(index, name, wheel.filename, [index, ...(options.extraIndexUrls ?? [])], options.signal);
    wheels.push({ name, version, url, sha256: wheel.sha256, filename: wheel.filename });
  }
  return wheels;
}

/** The URL of one file on a PEP 503 index's project page (credentials kept out of the result). */
async function findFileOnIndex(index: string, project: string, filename: string, credentialSources: readonly string[], signal: AbortSignal | undefined): Promise<string> {
  const base = new URL(index.endsWith("/") ? index : `${index}/`);
  const page = new URL(`${project}/`, base);
  const authorization = indexCredentialsFor(page, credentialSources);
  page.username = "";
  page.password = "";
  const headers: Record<string, string> = { accept: "text/html", "user-agent": "imagespec" };
  if (authorization !== undefined) headers.authorization = authorization;
  const failure = (problem: string, cause?: unknown) =>
    new PythonError("WHEEL_DOWNLOAD_FAILED", `cannot find ${filename} on ${redactUrl(page.toString())}: ${problem}`, {
      hint: "the lock's files are looked up on the package's source, else pipIndex, else PyPI; check that the index is reachable and still has the file",
      ...(cause !== undefined ? { cause } : {}),
    });
  let html: string;
  try {
    const response = await fetch(page, { headers, redirect: "follow", dispatcher: proxyDispatcher(), ...(signal ? { signal } : {}) });
    html = await response.text();
    if (!response.ok) throw failure(`HTTP ${response.status}`);
  } catch (error) {
    if (error instanceof PythonError) throw error;
    throw failure((error as Error).message, error);
  }
  for (const match of html.matchAll(/<a\s[^>]*href\s*=\s*"([^"]*)"/gi)) {
    const href = match[1]!.replace(/&amp;/g, "&");
    const url = new URL(href, page);
    if (decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf("/") + 1)) === filename) {
      url.hash = "";
      url.username = "";
      url.password = "";
      return url.toString();
    }
  }
  throw failure("the project page does not list it");
}
