// The apt step for one platform (src/apt does the work): the base's apt files read from its layers
// (cached per layer digest), the signed InRelease and Packages indexes fetched and the packages
// resolved for the platform's Debian architecture, then the layer, cheapest source first:
//
//   1. the local step record (same key: same packages on the same base) -> the layer file on this disk
//   2. the `apt` step-cache artifact in the target repository          -> the layer already in the registry
//   3. download the .debs (cached by sha256), unpack, assemble, write the layer
//
// The key is known after resolution and before any .deb is fetched: the base's layer digests, the
// resolved packages (name, version, architecture, sha256), the layer layout version and the layer
// identity. The indexes are read on every build, since they decide what "curl" resolves to today.
// `refresh` skips 1 and 2. Nothing runs inside the image, so any platform builds on any host.
import { join } from "node:path";
import {
  aptLayerEntriesFor,
  aptPackageRecords,
  APT_LAYER_LAYOUT_VERSION,
  readBaseFiles,
  resolveApt,
  type AptEvent,
} from "../apt/index.js";
import { layerFromEntries, type CompressionOptions } from "../layer/index.js";
import { formatPlatform, isDigest, type Blob, type Descriptor, type Image, type Platform } from "../oci/index.js";
import type { Reference } from "../reference/index.js";
import type { Registry } from "../registry/index.js";
import { openLayerTar } from "./layer-stream.js";
import {
  cacheEntryArtifact,
  cacheEntryError,
  fetchCacheEntry,
  jsonAnnotation,
  LAYER_MEDIA_TYPES,
  putCacheEntry,
  readCacheEntry,
  StepCacheAnnotation,
} from "./registry-step-cache.js";
import { cachedLayerOf, isAptStepRecord, openCachedLayer, readAptStepRecord, writeAptStepRecord, type AptStepRecord } from "./step-cache.js";
import { aptStepKey, type LayerIdentity } from "./step-keys.js";

export interface AptStepOptions {
  /** The spec's aptPackages, as written (`name[:arch][=version]`). */
  readonly packages: readonly string[];
  /** Replaces the URI of the base's main archive (builderOptions.aptMirror). */
  readonly mirror?: string;
  readonly platform: Platform;
  readonly base: { readonly layers: readonly Blob[] };
  readonly cacheDir: string;
  readonly compression: CompressionOptions;
  readonly identity: LayerIdentity;
  readonly refresh?: boolean;
  /** The repository the image is pushed to, whose step cache is read before downloading. */
  readonly registryCache?: { readonly registry: Registry; readonly repository: Reference };
  readonly onEvent?: (event: AptEvent) => void;
  readonly signal?: AbortSignal;
}

/** Where the apt layer came from; `installed`: the base already has every package, no layer is added. */
export type AptStepSource = "local-cache" | "registry-cache" | "built" | "installed";

export interface AptStepResult {
  readonly source: AptStepSource;
  /** The layer, unless the base has everything already. */
  readonly layer?: Blob;
  /** What the step made (undefined with no layer); stored in the registry's step cache after the push. */
  readonly record?: AptStepRecord;
  /** The packages in the layer, `name=version`, in name order. */
  readonly packages: readonly string[];
  /** Requested packages the base already has in a satisfying version (`name version`). */
  readonly alreadyInstalled: readonly string[];
  /** What the native builder did not do (postinst effects), base packages upgraded, an unreadable cache entry. */
  readonly warnings: readonly string[];
}

export async function runAptStep(options: AptStepOptions): Promise<AptStepResult> {
  const { cacheDir, platform } = options;
  const signal = options.signal ? { signal: options.signal } : {};
  const base = await readBaseFiles(
    options.base.layers.map((layer) => ({ digest: layer.descriptor.digest, openTar: () => openLayerTar(layer) })),
    { cacheDir },
  );
  const plan = await resolveApt(base, options.packages, {
    platform,
    cacheDir,
    ...(options.mirror !== undefined ? { mirror: options.mirror } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...signal,
  });
  const records = aptPackageRecords(plan);
  const alreadyInstalled = plan.resolution.alreadyInstalled;
  const packages = records.map((p) => `${p.name}=${p.version}`).sort();
  if (records.length === 0) return { source: "installed", packages: [], alreadyInstalled, warnings: [] };

  const key = aptStepKey({ baseLayers: options.base.layers.map((l) => l.descriptor.digest), packages: records, layout: APT_LAYER_LAYOUT_VERSION, ...options.identity });
  const done = (source: AptStepSource, record: AptStepRecord, layer: Blob, extra: readonly string[] = []): AptStepResult => ({
    source,
    layer,
    record,
    packages,
    alreadyInstalled,
    warnings: [...extra, ...record.warnings],
  });

  const lookupWarnings: string[] = [];
  if (!options.refresh) {
    const local = await readAptStepRecord(cacheDir, key);
    const file = local && (await openCachedLayer(cacheDir, local.layer, (message) => lookupWarnings.push(message)));
    if (local && file) return done("local-cache", local, file);
  }
  if (!options.refresh && options.registryCache) {
    const lookup = await lookupAptStep(options.registryCache.registry, options.registryCache.repository, key, options.signal);
    if (lookup.status === "hit") return done("registry-cache", lookup.record, lookup.layer);
    if (lookup.status === "error") lookupWarnings.push(`step cache ${lookup.tag} could not be read, building the apt layer instead: ${messageOf(lookup.error)}`);
  }

  const { entries, warnings } = await aptLayerEntriesFor(plan, { cacheDir, ...(options.onEvent ? { onEvent: options.onEvent } : {}), ...signal });
  const layer = await layerFromEntries(entries, { cacheDir: join(cacheDir, "layers"), epoch: options.identity.epoch, ...options.compression });
  const record: AptStepRecord = { key, platform: formatPlatform(platform), packages, warnings: [...warnings], layer: cachedLayerOf(layer) };
  await writeAptStepRecord(cacheDir, record);
  return done("built", record, layer, lookupWarnings);
}

/** `imagespec: apt curl jq (12 packages)`: the history line of an apt layer. */
export function aptLayerHistory(requested: readonly string[], installed: number): string {
  return `imagespec: apt ${requested.join(" ")} (${installed} package${installed === 1 ? "" : "s"})`;
}

// ---- the registry's step cache

/** The cache artifact of an apt step: its one layer, the packages and warnings as annotations. */
export function aptStepArtifact(record: AptStepRecord, layer: Blob): Image {
  const descriptor: Descriptor = {
    mediaType: record.layer.mediaType,
    digest: record.layer.digest,
    size: record.layer.size,
    annotations: { [StepCacheAnnotation.DiffId]: record.layer.diffId },
  };
  return cacheEntryArtifact(
    record.key,
    "apt",
    {
      [StepCacheAnnotation.Platform]: record.platform,
      [StepCacheAnnotation.AptPackages]: JSON.stringify(record.packages),
      [StepCacheAnnotation.AptWarnings]: JSON.stringify(record.warnings),
    },
    [descriptor],
    [layer],
  );
}

/** Reads an apt entry back into its record; throws STEP_CACHE_INVALID unless it is exactly what `aptStepArtifact` writes for `key`. */
export function parseAptStepManifest(bytes: Buffer, key: string): AptStepRecord {
  const manifest = readCacheEntry(bytes, key, "apt");
  if (manifest.layers.length !== 1) throw cacheEntryError(key, `it has ${manifest.layers.length} layers, not 1`);
  const descriptor = manifest.layers[0]!;
  if (!LAYER_MEDIA_TYPES.has(descriptor.mediaType) || !isDigest(descriptor.digest) || !Number.isSafeInteger(descriptor.size)) {
    throw cacheEntryError(key, `layer ${JSON.stringify(descriptor.digest)} has an unexpected descriptor`);
  }
  const diffId = descriptor.annotations?.[StepCacheAnnotation.DiffId] ?? "";
  if (!isDigest(diffId)) throw cacheEntryError(key, `layer ${descriptor.digest} has no diffID`);
  const record = {
    key,
    platform: manifest.annotations?.[StepCacheAnnotation.Platform],
    packages: jsonAnnotation(manifest.annotations, StepCacheAnnotation.AptPackages, key),
    warnings: jsonAnnotation(manifest.annotations, StepCacheAnnotation.AptWarnings, key),
    layer: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, diffId },
  };
  if (!isAptStepRecord(record)) throw cacheEntryError(key, "its annotations do not describe an apt step");
  return record;
}

export type AptStepLookup =
  | { readonly status: "hit"; readonly tag: string; readonly record: AptStepRecord; readonly layer: Blob }
  | { readonly status: "miss"; readonly tag: string }
  | { readonly status: "error"; readonly tag: string; readonly error: unknown };

/** Looks an apt step up in the repository; a hit's layer is the repository's own blob (nothing to send on push). */
export async function lookupAptStep(registry: Registry, repository: Reference, key: string, signal?: AbortSignal): Promise<AptStepLookup> {
  const fetched = await fetchCacheEntry(registry, repository, key, signal);
  if (fetched.status !== "found") return fetched;
  let record: AptStepRecord;
  try {
    record = parseAptStepManifest(fetched.bytes, key);
  } catch (error) {
    return { status: "error", tag: fetched.tag, error };
  }
  const client = registry.client(repository.registry);
  const source: Reference = { registry: repository.registry, repository: repository.repository };
  const descriptor: Descriptor = { mediaType: record.layer.mediaType, digest: record.layer.digest, size: record.layer.size };
  const layer: Blob = { descriptor, sources: [source], open: () => client.openBlob(repository.repository, descriptor, signal) };
  return { status: "hit", tag: fetched.tag, record, layer };
}

/** Writes the cache artifact of an apt step whose layer is already in the repository (call after the image push). */
export function storeAptStep(registry: Registry, repository: Reference, record: AptStepRecord, layer: Blob, signal?: AbortSignal) {
  return putCacheEntry(registry, repository, record.key, aptStepArtifact(record, layer), signal);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
