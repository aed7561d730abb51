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
import { layerFromEntries, type LayerWriteOptions } from "../layer/index.js";
import { formatPlatform, type Blob, type Platform } from "../oci/index.js";
import type { Reference } from "../reference/index.js";
import type { Registry } from "../registry/index.js";
import { openLayerTar } from "./layer-stream.js";
import { cacheEntryError, jsonAnnotation, StepCacheAnnotation } from "./steps/artifact.js";
import { lookupRegistry, parseStepArtifact, StepCache, stepArtifact, storeRegistry, type RegistryCache, type RegistryLookup, type StepCodec } from "./steps/cache.js";
import { cachedLayerOf, isCachedLayer, type CachedLayer } from "./steps/cached-layer.js";
import { aptStepKey, type LayerIdentity } from "./step-keys.js";

/** What the apt step made for one platform: the packages in its layer, and what their maintainer scripts left undone. */
export interface AptStepRecord {
  readonly key: string;
  readonly platform: string;
  /** `name=version`, in name order. */
  readonly packages: readonly string[];
  readonly warnings: readonly string[];
  readonly layer: CachedLayer;
}

export function isAptStepRecord(value: unknown): value is AptStepRecord {
  const record = value as Partial<AptStepRecord> | undefined;
  const strings = (list: unknown) => Array.isArray(list) && list.every((s) => typeof s === "string");
  return typeof record?.key === "string" && typeof record.platform === "string" && strings(record.packages) && strings(record.warnings) && isCachedLayer(record.layer);
}

/** The apt step in the step cache: on this disk as `{ apt: record }`; in the registry its one layer, the packages and warnings as annotations. */
export const aptCodec: StepCodec<AptStepRecord> = {
  layers: (record) => [record.layer],
  local: {
    write: (record) => ({ apt: record }),
    read: (json, key) => (isAptStepRecord(json.apt) && json.apt.key === key ? json.apt : undefined),
  },
  registry: {
    step: "apt",
    instead: "building the apt layer",
    annotate: (record) => ({
      manifest: {
        [StepCacheAnnotation.Platform]: record.platform,
        [StepCacheAnnotation.AptPackages]: JSON.stringify(record.packages),
        [StepCacheAnnotation.AptWarnings]: JSON.stringify(record.warnings),
      },
    }),
    parse(entry, key) {
      if (entry.layers.length !== 1) throw cacheEntryError(key, `it has ${entry.layers.length} layers, not 1`);
      const record = {
        key,
        platform: entry.annotations[StepCacheAnnotation.Platform],
        packages: jsonAnnotation(entry.annotations, StepCacheAnnotation.AptPackages, key),
        warnings: jsonAnnotation(entry.annotations, StepCacheAnnotation.AptWarnings, key),
        layer: entry.layers[0]!.layer,
      };
      if (!isAptStepRecord(record)) throw cacheEntryError(key, "its annotations do not describe an apt step");
      return record;
    },
  },
};

export interface AptStepOptions {
  /** The spec's aptPackages, as written (`name[:arch][=version]`). */
  readonly packages: readonly string[];
  /** Replaces the URI of the base's main archive (builderOptions.aptMirror). */
  readonly mirror?: string;
  readonly platform: Platform;
  readonly base: { readonly layers: readonly Blob[] };
  readonly cacheDir: string;
  readonly compression: LayerWriteOptions;
  readonly identity: LayerIdentity;
  readonly refresh?: boolean;
  /** The repository the image is pushed to, whose step cache is read before downloading. */
  readonly registryCache?: RegistryCache;
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
  const lookupWarnings: string[] = [];
  const step = await new StepCache(aptCodec, options).run(
    key,
    async () => {
      const { entries, warnings } = await aptLayerEntriesFor(plan, { cacheDir, ...(options.onEvent ? { onEvent: options.onEvent } : {}), ...signal });
      const layer = await layerFromEntries(entries, { cacheDir: join(cacheDir, "layers"), epoch: options.identity.epoch, ...options.compression });
      return { record: { key, platform: formatPlatform(platform), packages, warnings: [...warnings], layer: cachedLayerOf(layer) }, layers: [layer] };
    },
    (message) => lookupWarnings.push(message),
  );
  return { source: step.source, layer: step.layers[0]!, record: step.record, packages, alreadyInstalled, warnings: [...lookupWarnings, ...step.record.warnings] };
}

/** `imagespec: apt curl jq (12 packages)`: the history line of an apt layer. */
export function aptLayerHistory(requested: readonly string[], installed: number): string {
  return `imagespec: apt ${requested.join(" ")} (${installed} package${installed === 1 ? "" : "s"})`;
}

// ---- the apt codec under the names the library has always exported

/** The cache artifact of an apt step: its one layer, the packages and warnings as annotations. */
export function aptStepArtifact(record: AptStepRecord, layer: Blob) {
  return stepArtifact(aptCodec, record.key, record, [layer]);
}

/** Reads an apt entry back into its record; throws STEP_CACHE_INVALID unless it is exactly what `aptStepArtifact` writes for `key`. */
export function parseAptStepManifest(bytes: Buffer, key: string): AptStepRecord {
  return parseStepArtifact(aptCodec, bytes, key);
}

export type AptStepLookup =
  | { readonly status: "hit"; readonly tag: string; readonly record: AptStepRecord; readonly layer: Blob }
  | Exclude<RegistryLookup<AptStepRecord>, { status: "hit" }>;

/** Looks an apt step up in the repository; a hit's layer is the repository's own blob (nothing to send on push). */
export async function lookupAptStep(registry: Registry, repository: Reference, key: string, signal?: AbortSignal): Promise<AptStepLookup> {
  const found = await lookupRegistry(aptCodec, { registry, repository }, key, signal);
  return found.status === "hit" ? { status: "hit", tag: found.tag, record: found.record, layer: found.layers[0]! } : found;
}

/** Writes the cache artifact of an apt step whose layer is already in the repository (call after the image push). */
export function storeAptStep(registry: Registry, repository: Reference, record: AptStepRecord, layer: Blob, signal?: AbortSignal) {
  return storeRegistry(aptCodec, { registry, repository }, record.key, record, [layer], signal);
}
