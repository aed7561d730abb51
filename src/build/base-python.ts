// What a base image's Python is, remembered so it is not looked for again:
//
//   - in the target repository, as a `base-python` step-cache entry keyed by the base's layer
//     digests, config Env and the spec's pythonVersion: a fresh CI runner learns the interpreter
//     and install scheme from one small manifest instead of reading every base layer (gigabytes
//     for a CUDA base) just to list it;
//   - on this machine, per (base reference, platform), for `build --dry-run`, which looks up
//     cached resolutions without reading the base. A hint for the plan only.
import { join } from "node:path";
import { formatPlatform, sha256, type Platform } from "../oci/index.js";
import { checkInstallTarget, type DiscoveredPython, type Libc } from "../python/index.js";
import type { Reference } from "../reference/index.js";
import type { Registry } from "../registry/index.js";
import { readJsonRecord, writeJsonRecord } from "../json-record.js";
import { digestHex } from "./cache-dir.js";
import { cacheEntryError, jsonAnnotation, StepCacheAnnotation } from "./steps/artifact.js";
import { lookupRegistry, parseStepArtifact, stepArtifact, storeRegistry, type RegistryLookup, type StepCodec } from "./steps/cache.js";

/** The interpreter of a base and its C library (default glibc when undefined). */
export interface BasePythonFacts {
  readonly python: DiscoveredPython;
  readonly libc?: Libc;
}

/** The base-python step in the step cache: the registry only (this disk keeps the base's listings instead), no layers. */
export const basePythonCodec: StepCodec<BasePythonFacts> = {
  layers: () => [],
  registry: {
    step: "base-python",
    instead: "reading the base layers",
    annotate: (facts) => ({ manifest: { [StepCacheAnnotation.BasePython]: JSON.stringify(facts) } }),
    parse(entry, key) {
      const facts = jsonAnnotation(entry.annotations, StepCacheAnnotation.BasePython, key) as Partial<BasePythonFacts> | null;
      const python = facts?.python;
      const valid =
        typeof python?.version === "string" &&
        /^3\.\d+$/.test(python.version) &&
        typeof python.layout === "string" &&
        typeof python.prefix === "string" &&
        typeof python.sitePackages === "string" &&
        typeof python.externallyManaged === "boolean" &&
        typeof python.interpreter === "string" &&
        typeof python.scheme === "object" &&
        (facts?.libc === undefined || ((facts.libc.family === "glibc" || facts.libc.family === "musl") && typeof facts.libc.version === "string"));
      if (!valid) throw cacheEntryError(key, "it does not describe a Python interpreter");
      try {
        checkInstallTarget(python);
      } catch (error) {
        throw cacheEntryError(key, (error as Error).message);
      }
      return facts as BasePythonFacts;
    },
  },
};

// The base-python codec under the names the library has always exported.

export function basePythonArtifact(key: string, facts: BasePythonFacts) {
  return stepArtifact(basePythonCodec, key, facts, []);
}

/** Reads a `base-python` entry back; throws STEP_CACHE_INVALID unless it describes an interpreter with absolute install paths. */
export function parseBasePythonManifest(bytes: Buffer, key: string): BasePythonFacts {
  return parseStepArtifact(basePythonCodec, bytes, key);
}

export type BasePythonLookup =
  | { readonly status: "hit"; readonly tag: string; readonly facts: BasePythonFacts }
  | Exclude<RegistryLookup<BasePythonFacts>, { status: "hit" }>;

export async function lookupBasePython(registry: Registry, repository: Reference, key: string, signal?: AbortSignal): Promise<BasePythonLookup> {
  const found = await lookupRegistry(basePythonCodec, { registry, repository }, key, signal);
  return found.status === "hit" ? { status: "hit", tag: found.tag, facts: found.record } : found;
}

export function storeBasePython(registry: Registry, repository: Reference, key: string, facts: BasePythonFacts, signal?: AbortSignal) {
  return storeRegistry(basePythonCodec, { registry, repository }, key, facts, [], signal);
}

/** What the dry-run needs: the version resolution targets and where the interpreter is. */
export interface BasePython {
  /** The version resolution targets, e.g. `3.11`. */
  readonly version: string;
  readonly interpreter: string;
  readonly libc?: Libc;
}

function memoPath(cacheDir: string, reference: string, platform: Platform): string {
  return join(cacheDir, "base-python", `${digestHex(sha256(`${reference}\0${formatPlatform(platform)}`))}.json`);
}

export async function rememberBasePython(cacheDir: string, reference: string, platform: Platform, python: BasePython): Promise<void> {
  await writeJsonRecord(memoPath(cacheDir, reference, platform), { reference, platform: formatPlatform(platform), ...python });
}

export async function recallBasePython(cacheDir: string, reference: string, platform: Platform): Promise<BasePython | undefined> {
  const memo = (await readJsonRecord(memoPath(cacheDir, reference, platform))) as Partial<BasePython & { reference: string }> | undefined;
  if (memo?.reference !== reference || typeof memo.version !== "string" || typeof memo.interpreter !== "string") return undefined;
  return { version: memo.version, interpreter: memo.interpreter, ...(memo.libc !== undefined ? { libc: memo.libc } : {}) };
}
