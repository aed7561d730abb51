// The step cache kept in the target repository, so a CI runner with an empty disk finds what an
// earlier build of the same inputs made and skips the work. Each entry is a small OCI artifact,
// tagged `imagespec-cache-<key>`:
//
//   an image manifest with artifactType application/vnd.imagespec.step-cache.v1+json,
//   the empty config (application/vnd.oci.empty.v1+json, `{}`),
//   the step's layers as `layers` (so the registry keeps the blobs while the tag exists),
//   annotations naming the key and the step, and carrying what the step found.
//
// Three steps use it: `python` (the wheel layers, each annotated with its diffID and wheels),
// `base-python` (the interpreter found in a base, no layers; see base-python.ts) and `apt` (one
// layer per platform with the packages it holds; see apt-step.ts). A hit of a
// python entry gives registry-backed layers whose `sources` name the target repository: the push
// finds them already there and sends nothing. A malformed or unreadable entry is a miss with a
// warning; it never puts a wrong layer into an image, because the key must match exactly and
// every descriptor and diffID is checked before use.
import { ImagespecError } from "../errors.js";
import { bufferBlob, encodeJson, isDigest, MediaType, sha256, type Blob, type Descriptor, type Image, type Manifest } from "../oci/index.js";
import { withTag, type Reference } from "../reference/index.js";
import { RegistryError, type Registry } from "../registry/index.js";
import { isPythonStepRecord, type PythonStepLayer, type PythonStepRecord } from "./step-cache.js";
import { cacheTag } from "./step-keys.js";

export const STEP_CACHE_ARTIFACT_TYPE = "application/vnd.imagespec.step-cache.v1+json";

/** Annotation names on step-cache artifacts. */
export const StepCacheAnnotation = {
  Key: "dev.imagespec.step-cache.key",
  Step: "dev.imagespec.step-cache.step",
  Platform: "dev.imagespec.step-cache.platform",
  Python: "dev.imagespec.step-cache.python",
  Wheels: "dev.imagespec.step-cache.wheels",
  BasePython: "dev.imagespec.step-cache.base-python",
  AptPackages: "dev.imagespec.step-cache.apt-packages",
  AptWarnings: "dev.imagespec.step-cache.apt-warnings",
  DiffId: "dev.imagespec.layer.diff-id",
  LayerKind: "dev.imagespec.layer.kind",
  LayerWheels: "dev.imagespec.layer.wheels",
} as const;

export type CacheStep = "python" | "base-python" | "apt";

export const LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set<string>([MediaType.OciLayerGzip, MediaType.OciLayerZstd, MediaType.OciLayerTar]);
const EMPTY_CONFIG = Buffer.from("{}");

/** The artifact of one cache entry; `layers` are the blobs the descriptors name, in order. */
export function cacheEntryArtifact(key: string, step: CacheStep, annotations: Record<string, string>, descriptors: readonly Descriptor[], layers: readonly Blob[]): Image {
  const config = bufferBlob(MediaType.OciEmpty, EMPTY_CONFIG);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: STEP_CACHE_ARTIFACT_TYPE,
    config: config.descriptor,
    layers: [...descriptors],
    annotations: { [StepCacheAnnotation.Key]: key, [StepCacheAnnotation.Step]: step, ...annotations },
  };
  const manifestBytes = encodeJson(manifest);
  return { manifest, manifestBytes, digest: sha256(manifestBytes), mediaType: MediaType.OciManifest, config, layers };
}

export function cacheEntryError(key: string, problem: string): ImagespecError {
  return new ImagespecError("STEP_CACHE_INVALID", `step cache entry for ${key}: ${problem}`, {
    hint: "delete the imagespec-cache-* tag (the next build writes it again), or build with refresh",
  });
}

/** The manifest of an entry, checked to be ours and written for this key and step; throws STEP_CACHE_INVALID otherwise. */
export function readCacheEntry(bytes: Buffer, key: string, step: CacheStep): Manifest {
  let manifest: Partial<Manifest>;
  try {
    manifest = JSON.parse(bytes.toString("utf8")) as Partial<Manifest>;
  } catch {
    throw cacheEntryError(key, "the manifest is not JSON");
  }
  if (manifest.artifactType !== STEP_CACHE_ARTIFACT_TYPE) throw cacheEntryError(key, `artifactType is ${JSON.stringify(manifest.artifactType)}`);
  const annotations = manifest.annotations ?? {};
  if (annotations[StepCacheAnnotation.Key] !== key) throw cacheEntryError(key, `it was written for key ${JSON.stringify(annotations[StepCacheAnnotation.Key])}`);
  if (annotations[StepCacheAnnotation.Step] !== step) throw cacheEntryError(key, `it is not a ${step} step`);
  if (!Array.isArray(manifest.layers)) throw cacheEntryError(key, "it has no layer list");
  return manifest as Manifest;
}

/** A JSON annotation of an entry; throws STEP_CACHE_INVALID when it is missing or not JSON. */
export function jsonAnnotation(annotations: Record<string, string> | undefined, name: string, key: string): unknown {
  try {
    return JSON.parse(annotations?.[name] ?? "");
  } catch {
    throw cacheEntryError(key, `annotation ${name} is not JSON`);
  }
}

export type CacheEntryFetch =
  | { readonly status: "found"; readonly tag: string; readonly bytes: Buffer }
  | { readonly status: "miss"; readonly tag: string }
  | { readonly status: "error"; readonly tag: string; readonly error: unknown };

/** The entry's manifest bytes. Absent is a miss; any other failure is reported, never thrown. */
export async function fetchCacheEntry(registry: Registry, repository: Reference, key: string, signal?: AbortSignal): Promise<CacheEntryFetch> {
  const tag = cacheTag(key);
  try {
    return { status: "found", tag, bytes: (await registry.client(repository.registry).getManifest(repository.repository, tag, signal)).bytes };
  } catch (error) {
    if (signal?.aborted) throw error;
    // A repository not created yet answers NAME_UNKNOWN; both are simply "not cached".
    if (error instanceof RegistryError && (error.status === 404 || error.code === "MANIFEST_UNKNOWN" || error.code === "NAME_UNKNOWN")) return { status: "miss", tag };
    return { status: "error", tag, error };
  }
}

/** Writes an entry unless the tag already names this exact artifact (then nothing is sent). */
export async function putCacheEntry(
  registry: Registry,
  repository: Reference,
  key: string,
  artifact: Image,
  signal?: AbortSignal,
): Promise<{ status: "present" | "stored"; tag: string; digest: string }> {
  const tag = cacheTag(key);
  const reference = withTag(repository, tag);
  const found = await registry.exists(reference, signal);
  if (found.present && found.digest === artifact.digest) return { status: "present", tag, digest: artifact.digest };
  await registry.push(reference, artifact, signal ? { signal } : {});
  return { status: "stored", tag, digest: artifact.digest };
}

// ---- python steps

export type StepCacheLookup =
  | { readonly status: "hit"; readonly tag: string; readonly record: PythonStepRecord; readonly layers: readonly Blob[] }
  | { readonly status: "miss"; readonly tag: string }
  | { readonly status: "error"; readonly tag: string; readonly error: unknown };

/** The cache artifact of a Python step record, over the given layer blobs (one per record layer, in order). */
export function stepCacheArtifact(record: PythonStepRecord, layers: readonly Blob[]): Image {
  const descriptors = record.layers.map((layer) => ({
    mediaType: layer.mediaType,
    digest: layer.digest,
    size: layer.size,
    annotations: {
      [StepCacheAnnotation.DiffId]: layer.diffId,
      [StepCacheAnnotation.LayerKind]: layer.kind,
      [StepCacheAnnotation.LayerWheels]: JSON.stringify(layer.wheels),
    },
  }));
  return cacheEntryArtifact(
    record.key,
    "python",
    {
      [StepCacheAnnotation.Platform]: record.platform,
      [StepCacheAnnotation.Python]: JSON.stringify(record.python),
      [StepCacheAnnotation.Wheels]: JSON.stringify(record.wheels),
    },
    descriptors,
    layers,
  );
}

/** Reads a Python step's cache artifact back into its record; throws STEP_CACHE_INVALID unless it is exactly what `stepCacheArtifact` writes for `key`. */
export function parseStepCacheManifest(bytes: Buffer, key: string): PythonStepRecord {
  const manifest = readCacheEntry(bytes, key, "python");
  const layers: PythonStepLayer[] = manifest.layers.map((descriptor: Descriptor) => {
    if (!LAYER_MEDIA_TYPES.has(descriptor.mediaType) || !isDigest(descriptor.digest) || !Number.isSafeInteger(descriptor.size)) {
      throw cacheEntryError(key, `layer ${JSON.stringify(descriptor.digest)} has an unexpected descriptor`);
    }
    const diffId = descriptor.annotations?.[StepCacheAnnotation.DiffId] ?? "";
    if (!isDigest(diffId)) throw cacheEntryError(key, `layer ${descriptor.digest} has no diffID`);
    const kind = descriptor.annotations?.[StepCacheAnnotation.LayerKind];
    if (kind !== "large" && kind !== "shared") throw cacheEntryError(key, `layer ${descriptor.digest} has no kind`);
    const wheels = jsonAnnotation(descriptor.annotations, StepCacheAnnotation.LayerWheels, key) as string[];
    return { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, diffId, kind, wheels };
  });
  const record = {
    key,
    platform: manifest.annotations?.[StepCacheAnnotation.Platform],
    python: jsonAnnotation(manifest.annotations, StepCacheAnnotation.Python, key),
    wheels: jsonAnnotation(manifest.annotations, StepCacheAnnotation.Wheels, key),
    layers,
  };
  if (!isPythonStepRecord(record)) throw cacheEntryError(key, "its annotations do not describe a python step");
  return record;
}

/** Looks a Python step up in the repository. */
export async function lookupStepCache(registry: Registry, repository: Reference, key: string, signal?: AbortSignal): Promise<StepCacheLookup> {
  const fetched = await fetchCacheEntry(registry, repository, key, signal);
  if (fetched.status !== "found") return fetched;
  let record: PythonStepRecord;
  try {
    record = parseStepCacheManifest(fetched.bytes, key);
  } catch (error) {
    return { status: "error", tag: fetched.tag, error };
  }
  const client = registry.client(repository.registry);
  const source: Reference = { registry: repository.registry, repository: repository.repository };
  const layers: Blob[] = record.layers.map((layer) => {
    const descriptor: Descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
    return { descriptor, sources: [source], open: () => client.openBlob(repository.repository, descriptor, signal) };
  });
  return { status: "hit", tag: fetched.tag, record, layers };
}

/** Writes the cache artifact of a Python step whose layers are already in the repository (call after the image push). */
export function storeStepCache(registry: Registry, repository: Reference, record: PythonStepRecord, layers: readonly Blob[], signal?: AbortSignal) {
  return putCacheEntry(registry, repository, record.key, stepCacheArtifact(record, layers), signal);
}
