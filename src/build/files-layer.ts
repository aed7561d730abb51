// The layer of the spec's files (`sourceRoot` and `copy`), reused from the local step cache when
// the tree is unchanged: hashing the files is much cheaper than tarring and compressing them.
//
// A big one bound for a registry is uploaded as it is compressed and not copied to the cache dir:
// writing 1 GiB to this disk costs more than the upload it overlaps, and a registry push does not
// need it. A record in `sent/` says where it went, so the next build with the same files asks the
// registry (one HEAD) instead of making the layer again; after the push, the repository's step
// cache keeps the same (`imagespec-cache-<key>`), for a fresh runner. Where neither finds it, the
// layer is made again.
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  layerFromEntries,
  layerFromEntriesWithoutCopy,
  remadeLayer,
  type KnownLayer,
  type Layer,
  type LayerEntry,
  type LayerWriteOptions,
} from "../layer/index.js";
import type { Reference } from "../reference/index.js";
import { EARLY_MIN_BYTES, type Registry } from "../registry/index.js";
import { readJsonRecord, writeJsonRecord } from "../json-record.js";
import { treeDigest, type FileEntry } from "../spec/index.js";
import { digestHex } from "./cache-dir.js";
import { cacheEntryError } from "./steps/artifact.js";
import { StepCache, storeRegistry, type RegistryCache, type StepCodec } from "./steps/cache.js";
import { cachedLayerOf, isCachedLayer, type CachedLayer, type CacheWarning } from "./steps/cached-layer.js";
import { readLayerRecord, writeLayerRecord } from "./steps/layer-record.js";
import { filesLayerKey, type LayerIdentity } from "./step-keys.js";

/** A files layer of at least this many bytes that goes to a registry is not copied to the cache dir. */
export const UPLOAD_ONLY_MIN_BYTES = 128 << 20;

/** Where a big files layer goes without a local copy, and how to ask whether it is still there. */
export interface UploadOnly {
  readonly registry: string;
  readonly repository: string;
  readonly minBytes: number;
  has(digest: string): Promise<boolean>;
}

/**
 * Layers of at least `minBytes` (never less than the early upload's own minimum: a smaller blob
 * would not be followed, and would have to be made twice) go only to `reference`'s repository.
 */
export function uploadOnlyTo(registry: Registry, reference: Reference, minBytes: number, signal?: AbortSignal): UploadOnly {
  return {
    registry: reference.registry,
    repository: reference.repository,
    minBytes: Math.max(minBytes, EARLY_MIN_BYTES),
    has: async (digest) => {
      try {
        return await registry.hasBlob(reference, digest, signal);
      } catch (error) {
        if (signal?.aborted) throw error;
        return false; // cannot tell: make it again
      }
    },
  };
}

/** A layer only uploaded, as the repository's step cache keeps it: the layer alone, its diffID in the annotations. */
const sentCodec: StepCodec<CachedLayer> = {
  layers: (layer) => [layer],
  registry: {
    step: "files",
    instead: "making the files layer",
    annotate: () => ({ manifest: {} }),
    parse(entry, key) {
      if (entry.layers.length !== 1) throw cacheEntryError(key, `it has ${entry.layers.length} layers, not 1`);
      return entry.layers[0]!.layer;
    },
  },
};

export interface FilesLayerOptions {
  readonly cacheDir: string;
  readonly workdir: string;
  readonly compression: LayerWriteOptions;
  readonly identity: LayerIdentity;
  /** Set when the layer goes to a registry that takes uploads while it is written. */
  readonly uploadOnly?: UploadOnly;
  /** The target repository's step cache: where a layer only uploaded is looked up, and recorded after the push. */
  readonly registryCache?: RegistryCache;
  readonly signal?: AbortSignal;
  /** Told when a damaged cache entry is dropped (and the layer rebuilt). */
  readonly warn?: CacheWarning;
}

export interface FilesLayerResult {
  readonly layer: Layer;
  readonly fromCache: boolean;
  /** For a layer only uploaded: records it in the repository's step cache, once the image is pushed. */
  readonly storeInRegistry?: () => Promise<{ status: "present" | "stored"; tag: string }>;
}

export async function filesLayer(files: readonly FileEntry[], options: FilesLayerOptions): Promise<FilesLayerResult> {
  const key = filesLayerKey(await treeDigest(files), options.workdir, options.identity);
  const cached = await readLayerRecord(options.cacheDir, key, options.warn);
  if (cached !== undefined) return { layer: cached, fromCache: true };
  const entries: LayerEntry[] = files.map((e) => ({
    path: e.path,
    type: e.type,
    mode: e.mode,
    size: e.size,
    ...(e.type === "file" ? { source: e.source } : {}),
    ...(e.linkTarget !== undefined ? { linkTarget: e.linkTarget } : {}),
  }));
  const { uploadOnly } = options;
  const bytes = files.reduce((sum, file) => sum + (file.type === "file" ? file.size : 0), 0);
  if (uploadOnly !== undefined && bytes >= uploadOnly.minBytes) {
    const layerOptions = { ...options.compression, epoch: options.identity.epoch };
    const sent = await readSentRecord(options.cacheDir, key, uploadOnly);
    if (sent !== undefined) return { layer: remadeLayer(entries, sent, layerOptions), fromCache: true };
    const { registryCache, signal } = options;
    const stepCache = new StepCache(sentCodec, { cacheDir: options.cacheDir, ...(registryCache ? { registryCache } : {}), ...(signal ? { signal } : {}) });
    const { hit } = await stepCache.lookup(key, options.warn ?? (() => undefined));
    if (hit !== undefined) {
      const { mediaType, digest, size, diffId } = hit.record;
      const layer = remadeLayer(entries, { descriptor: { mediaType, digest, size }, diffId }, layerOptions);
      await writeSentRecord(options.cacheDir, key, uploadOnly, layer).catch(() => undefined);
      return { layer, fromCache: true };
    }
    const layer = await layerFromEntriesWithoutCopy(entries, layerOptions);
    await writeSentRecord(options.cacheDir, key, uploadOnly, layer).catch(() => undefined); // only a shortcut for the next build
    const storeInRegistry = registryCache ? () => storeRegistry(sentCodec, registryCache, key, cachedLayerOf(layer), [layer], signal) : undefined;
    return { layer, fromCache: false, ...(storeInRegistry ? { storeInRegistry } : {}) };
  }
  const layer = await layerFromEntries(entries, { cacheDir: join(options.cacheDir, "layers"), epoch: options.identity.epoch, ...options.compression });
  await writeLayerRecord(options.cacheDir, key, layer);
  return { layer, fromCache: false };
}

/** One record per key and repository: the same files pushed to two repositories are two records. */
function sentRecordPath(cacheDir: string, key: string, to: UploadOnly): string {
  const where = createHash("sha256").update(`${to.registry}/${to.repository}`).digest("hex").slice(0, 16);
  return join(cacheDir, "sent", `${digestHex(key)}-${where}.json`);
}

async function writeSentRecord(cacheDir: string, key: string, to: UploadOnly, layer: Layer): Promise<void> {
  await writeJsonRecord(sentRecordPath(cacheDir, key, to), { key, registry: to.registry, repository: to.repository, layer: cachedLayerOf(layer) });
}

/**
 * The layer a build with the same key sent to the same repository, if the repository still holds
 * it; a record for elsewhere, a damaged one, or a registry that cannot say is a miss.
 */
async function readSentRecord(cacheDir: string, key: string, to: UploadOnly): Promise<KnownLayer | undefined> {
  const json = (await readJsonRecord(sentRecordPath(cacheDir, key, to))) as Record<string, unknown> | undefined;
  if (json?.key !== key || json.registry !== to.registry || json.repository !== to.repository || !isCachedLayer(json.layer)) return undefined;
  const { mediaType, digest, size, diffId } = json.layer;
  if (!(await to.has(digest))) return undefined;
  return { descriptor: { mediaType, digest, size }, diffId };
}
