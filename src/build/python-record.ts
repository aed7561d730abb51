// What a Python step made for one platform, and its codec for the step cache: on this disk as
// `{ step: record }`, in the registry as the wheel layers, each annotated with its diffID, kind and
// wheels, and the platform, interpreter and wheel list as the artifact's annotations.
import type { Blob } from "../oci/index.js";
import { parseWheelFilename } from "../python/index.js";
import type { Reference } from "../reference/index.js";
import type { Registry } from "../registry/index.js";
import { cacheEntryError, jsonAnnotation, StepCacheAnnotation } from "./steps/artifact.js";
import { lookupRegistry, parseStepArtifact, stepArtifact, storeRegistry, type RegistryLookup, type StepCodec } from "./steps/cache.js";
import { isCachedLayer, type CachedLayer } from "./steps/cached-layer.js";

/** One layer of a Python step: which wheels it holds, in file-name order. */
export interface PythonStepLayer extends CachedLayer {
  readonly kind: "large" | "shared";
  readonly wheels: readonly string[];
}

/** What a Python step produced for one platform: enough to lay its layers into an image without resolving. */
export interface PythonStepRecord {
  readonly key: string;
  readonly platform: string;
  readonly python: { readonly version: string; readonly interpreter: string };
  /** The resolved wheels, by file name and sha256. */
  readonly wheels: readonly { readonly filename: string; readonly sha256: string }[];
  readonly layers: readonly PythonStepLayer[];
}

function isWheelGroup(value: object): boolean {
  const layer = value as Partial<PythonStepLayer>;
  return (layer.kind === "large" || layer.kind === "shared") && Array.isArray(layer.wheels) && layer.wheels.every(isWheelFilename);
}

function isWheelFilename(value: unknown): boolean {
  try {
    return typeof value === "string" && parseWheelFilename(value) !== undefined;
  } catch {
    return false;
  }
}

export function isPythonStepRecord(value: unknown): value is PythonStepRecord {
  const record = value as Partial<PythonStepRecord> | undefined;
  return (
    typeof record?.key === "string" &&
    typeof record.platform === "string" &&
    typeof record.python?.version === "string" &&
    typeof record.python.interpreter === "string" &&
    Array.isArray(record.wheels) &&
    record.wheels.every((w) => typeof w?.filename === "string" && typeof w.sha256 === "string") &&
    Array.isArray(record.layers) &&
    record.layers.every((l: unknown) => isCachedLayer(l) && isWheelGroup(l))
  );
}

export const pythonCodec: StepCodec<PythonStepRecord> = {
  layers: (record) => record.layers,
  local: {
    write: (record) => ({ step: record }),
    read: (json, key) => (isPythonStepRecord(json.step) && json.step.key === key ? json.step : undefined),
  },
  registry: {
    step: "python",
    instead: "building the Python layers",
    annotate: (record) => ({
      manifest: {
        [StepCacheAnnotation.Platform]: record.platform,
        [StepCacheAnnotation.Python]: JSON.stringify(record.python),
        [StepCacheAnnotation.Wheels]: JSON.stringify(record.wheels),
      },
      layers: record.layers.map((layer) => ({ [StepCacheAnnotation.LayerKind]: layer.kind, [StepCacheAnnotation.LayerWheels]: JSON.stringify(layer.wheels) })),
    }),
    parse(entry, key) {
      const layers: PythonStepLayer[] = entry.layers.map(({ layer, annotations }) => {
        const kind = annotations[StepCacheAnnotation.LayerKind];
        if (kind !== "large" && kind !== "shared") throw cacheEntryError(key, `layer ${layer.digest} has no kind`);
        return { ...layer, kind, wheels: jsonAnnotation(annotations, StepCacheAnnotation.LayerWheels, key) as string[] };
      });
      const record = {
        key,
        platform: entry.annotations[StepCacheAnnotation.Platform],
        python: jsonAnnotation(entry.annotations, StepCacheAnnotation.Python, key),
        wheels: jsonAnnotation(entry.annotations, StepCacheAnnotation.Wheels, key),
        layers,
      };
      if (!isPythonStepRecord(record)) throw cacheEntryError(key, "its annotations do not describe a python step");
      return record;
    },
  },
};

// The python codec under the names the library has always exported.

export type StepCacheLookup = RegistryLookup<PythonStepRecord>;

/** The cache artifact of a Python step record, over the given layer blobs (one per record layer, in order). */
export function stepCacheArtifact(record: PythonStepRecord, layers: readonly Blob[]) {
  return stepArtifact(pythonCodec, record.key, record, layers);
}

/** Reads a Python step's cache artifact back into its record; throws STEP_CACHE_INVALID unless it is exactly what `stepCacheArtifact` writes for `key`. */
export function parseStepCacheManifest(bytes: Buffer, key: string): PythonStepRecord {
  return parseStepArtifact(pythonCodec, bytes, key);
}

/** Looks a Python step up in the repository. */
export function lookupStepCache(registry: Registry, repository: Reference, key: string, signal?: AbortSignal): Promise<StepCacheLookup> {
  return lookupRegistry(pythonCodec, { registry, repository }, key, signal);
}

/** Writes the cache artifact of a Python step whose layers are already in the repository (call after the image push). */
export function storeStepCache(registry: Registry, repository: Reference, record: PythonStepRecord, layers: readonly Blob[], signal?: AbortSignal) {
  return storeRegistry(pythonCodec, { registry, repository }, record.key, record, layers, signal);
}
