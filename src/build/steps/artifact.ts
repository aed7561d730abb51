// The step cache's entries in the target repository, so a CI runner with an empty disk finds what an
// earlier build of the same inputs made and skips the work. Each entry is a small OCI artifact,
// tagged `imagespec-cache-<key>`:
//
//   an image manifest with artifactType application/vnd.imagespec.step-cache.v1+json,
//   the empty config (application/vnd.oci.empty.v1+json, `{}`),
//   the step's layers as `layers` (so the registry keeps the blobs while the tag exists), each
//   annotated with its diffID,
//   annotations naming the key and the step, and carrying what the step found.
//
// The steps' codecs (python, apt, base-python) say what their annotations hold. A malformed or
// unreadable entry is a miss with a warning; it never puts a wrong layer into an image, because the
// key must match exactly and every descriptor and diffID is checked before use.
import { ImagespecError } from "../../errors.js";
import { bufferBlob, encodeJson, isDigest, MediaType, sha256, type Blob, type Descriptor, type Image, type Manifest } from "../../oci/index.js";
import { withTag, type Reference } from "../../reference/index.js";
import { RegistryError, type Registry } from "../../registry/index.js";
import { cacheTag } from "../step-keys.js";
import type { CachedLayer } from "./cached-layer.js";

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

/** The steps kept in the registry. */
export type CacheStep = "python" | "base-python" | "apt" | "files";

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

/** An entry checked to be ours, for this key and step, with layer descriptors a layer may have. */
export interface ParsedCacheEntry {
  readonly annotations: Readonly<Record<string, string>>;
  readonly layers: readonly { readonly layer: CachedLayer; readonly annotations: Readonly<Record<string, string>> }[];
}

/** The manifest of an entry, checked to be ours and written for this key and step; throws STEP_CACHE_INVALID otherwise. */
export function parseCacheEntry(bytes: Buffer, key: string, step: CacheStep): ParsedCacheEntry {
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
  const layers = manifest.layers.map((descriptor: Descriptor) => {
    if (!LAYER_MEDIA_TYPES.has(descriptor?.mediaType) || !isDigest(descriptor.digest) || !Number.isSafeInteger(descriptor.size)) {
      throw cacheEntryError(key, `layer ${JSON.stringify(descriptor?.digest)} has an unexpected descriptor`);
    }
    const diffId = descriptor.annotations?.[StepCacheAnnotation.DiffId] ?? "";
    if (!isDigest(diffId)) throw cacheEntryError(key, `layer ${descriptor.digest} has no diffID`);
    return { layer: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, diffId }, annotations: descriptor.annotations ?? {} };
  });
  return { annotations, layers };
}

/** A JSON annotation of an entry; throws STEP_CACHE_INVALID when it is missing or not JSON. */
export function jsonAnnotation(annotations: Readonly<Record<string, string>> | undefined, name: string, key: string): unknown {
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
