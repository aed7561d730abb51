// Resolving a spec's Python requirements to pinned wheels for the target platform: from the
// cache when the same inputs were resolved before, else natively from the index's pages and
// metadata (native-resolver.ts), else with uv (when installed) or pip when the native resolver
// steps aside. What the resolver picked is checked again against the target's tags before it
// is trusted.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import { PythonError } from "./errors.js";
import { lockedWheels, lockKindOf, readLock } from "./lock.js";
import { NativeUnsupported, resolveNatively } from "./native-resolver.js";
import { findOnPath } from "./process.js";
import { resolveWithPip } from "./resolve-pip.js";
import type { ResolverRun } from "./resolver.js";
import { resolveWithUv } from "./resolve-uv.js";
import {
  readCachedResolution,
  resolutionKey,
  writeCachedResolution,
  type PythonRequirements,
  type Resolution,
  type ResolvedWheel,
  type ResolverName,
} from "./resolution.js";
import { describeTarget, wheelIsCompatible, type PythonTarget } from "./tags.js";
import { parseWheelFilename } from "./wheel-filename.js";

export interface ResolveOptions {
  /** Root of imagespec's cache; resolutions go to `<cacheDir>/resolutions/python/`. */
  readonly cacheDir: string;
  /** Resolve again even when a cached resolution exists (and replace it). */
  readonly refresh?: boolean;
  /** Interpreter that runs pip (default `python3`). */
  readonly python?: string;
  /** uv executable; default: `uv` when on PATH; false: always pip. */
  readonly uv?: string | false;
  /** Resolve from the index directly when it can (default true); false: always pip or uv. */
  readonly native?: boolean;
  /** Told why the native resolver stepped aside for pip or uv. */
  readonly onFallback?: (reason: string) => void;
  /** Environment for the resolver (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Let the host's pip/uv configuration (config files, PIP_* / UV_* variables) take part; they then join the cache key. */
  readonly inheritResolverConfig?: boolean;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 15 * 60 * 1000;

export async function resolveRequirements(requirements: PythonRequirements, target: PythonTarget, options: ResolveOptions): Promise<Resolution> {
  const env = options.env ?? process.env;
  const inheritConfig = options.inheritResolverConfig ?? false;
  const requirementsFile = requirements.requirementsFile === undefined ? undefined : resolvePath(requirements.requirementsFile);
  const requirementsContent = requirementsFile === undefined ? undefined : await readRequirementsFile(requirementsFile);
  const key = resolutionKey(requirements, requirementsContent, target, inheritConfig ? resolverEnvironment(env) : {});

  const lock = requirementsFile === undefined ? undefined : lockKindOf(requirementsFile);
  if (requirementsFile !== undefined && lock !== undefined) {
    // The lock is the resolution: nothing to run and nothing to cache (reading it is the cheap part).
    const wheels = await lockedWheels(requirementsFile, target, {
      ...(requirements.indexUrl !== undefined ? { indexUrl: requirements.indexUrl } : {}),
      ...(requirements.extraIndexUrls !== undefined ? { extraIndexUrls: requirements.extraIndexUrls } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    checkResolvedWheels(wheels, target, lock);
    return { key, resolver: lock, wheels, fromCache: false };
  }
  if (requirements.packages.length === 0 && !listsAnything(requirementsContent)) {
    return { key, wheels: [], resolver: "pip", fromCache: false };
  }
  if (!options.refresh) {
    const cached = await readCachedResolution(options.cacheDir, key);
    if (cached) return { ...cached, fromCache: true };
  }

  // The host's pip/uv configuration is theirs to read: inheriting it means running them.
  if ((options.native ?? true) && !inheritConfig) {
    try {
      const { wheels } = await resolveNatively({
        requirements,
        ...(requirementsContent !== undefined ? { requirementsContent } : {}),
        target,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      checkResolvedWheels(wheels, target, "native");
      const resolution = { key, resolver: "native" as const, wheels };
      await writeCachedResolution(options.cacheDir, resolution);
      return { ...resolution, fromCache: false };
    } catch (error) {
      if (!(error instanceof NativeUnsupported)) throw error;
      options.onFallback?.(error.message);
    }
  }

  const uv = options.uv === false ? undefined : (options.uv ?? (await findOnPath("uv", env)));
  const resolver: ResolverName = uv === undefined ? "pip" : "uv";
  const workDir = await mkdtemp(join(tmpdir(), "imagespec-resolve-"));
  let wheels: ResolvedWheel[];
  try {
    const run: ResolverRun = {
      requirements: { ...requirements, ...(requirementsFile !== undefined ? { requirementsFile } : {}) },
      target,
      workDir,
      env,
      inheritConfig,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    wheels = uv === undefined ? await resolveWithPip(options.python ?? "python3", run) : await resolveWithUv(uv, run);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  checkResolvedWheels(wheels, target, resolver);
  const resolution = { key, resolver, wheels: [...wheels].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
  await writeCachedResolution(options.cacheDir, resolution);
  return { ...resolution, fromCache: false };
}

/** A requirements file's text (a lock's with its pyproject.toml), or a PythonError naming the path. */
export async function readRequirementsFile(path: string): Promise<string> {
  if (lockKindOf(path) !== undefined) {
    const { lock, pyproject } = await readLock(path);
    return `${lock}\0pyproject.toml\0${pyproject}`;
  }
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new PythonError("PYTHON_RESOLUTION_FAILED", `cannot read the requirements file ${path}: ${(error as Error).message}`, {
      hint: "the requirements path is relative to the spec file; check that it exists",
      cause: error,
    });
  }
}

/** Whether a requirements file holds more than blank lines and comments. */
function listsAnything(content: string | undefined): boolean {
  return (content ?? "").split(/\r?\n/).some((line) => line.replace(/(^|\s)#.*$/, "").trim() !== "");
}

/** PIP_* and UV_* settings, which change what resolves when the host's configuration is inherited. */
function resolverEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => /^(PIP|UV)_/.test(e[0]) && e[1] !== undefined));
}

/** Every pick must be a wheel that runs on the target, once per project. */
function checkResolvedWheels(wheels: readonly ResolvedWheel[], target: PythonTarget, resolver: ResolverName): void {
  const seen = new Set<string>();
  for (const wheel of wheels) {
    if (seen.has(wheel.name)) throw new PythonError("PYTHON_RESOLUTION_FAILED", `${resolver} resolved ${wheel.name} twice`);
    seen.add(wheel.name);
    if (!wheel.filename.endsWith(".whl")) {
      throw new PythonError("PYTHON_NO_WHEEL_FOR_TARGET", `${wheel.name} ${wheel.version} resolved to ${wheel.filename}, which is not a wheel`, {
        hint: "the native builder installs wheels only; use the Dockerfile builder (builder: buildah or docker) for source distributions",
      });
    }
    parseWheelFilename(wheel.filename);
    if (!wheelIsCompatible(wheel.filename, target)) {
      throw new PythonError("PYTHON_NO_WHEEL_FOR_TARGET", `${resolver} picked ${wheel.filename} for ${wheel.name}, which does not run on ${describeTarget(target)}`, {
        hint: "pin a version that publishes a wheel for this platform, or use the Dockerfile builder (builder: buildah or docker)",
      });
    }
  }
}
