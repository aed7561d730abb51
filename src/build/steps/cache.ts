// One step cache for every cached build step. A step's output (a record of what it found or made,
// and the layers the record names) is kept in two places, cheapest first:
//
//   1. this disk: `<cacheDir>/steps/<key>.json` holds the record, the layer files sit in
//      `<cacheDir>/layers/sha256-<hex>` (where the layer writer puts them);
//   2. the target repository: a small OCI artifact tagged `imagespec-cache-<key>` (see artifact.ts),
//      whose layers are the repository's own blobs, so the push finds them there and sends nothing.
//
// What differs between steps is only how a record is written down: a StepCodec per step (python,
// apt, base-python, single layers) turns a record into the local JSON and into the artifact's
// annotations, and back. Reading is checked: a record that does not parse, or was written for
// another key, is a miss; a registry entry that cannot be read is a miss with a warning; a local
// layer file whose bytes no longer match is removed with a warning and the step builds it again.
//
// To add a cached step: a codec for its record next to the step (as aptCodec in apt-step.ts), a key
// in step-keys.ts, `new StepCache(codec, options).run(key, build, warn)` in the step, its name in
// CacheStep (artifact.ts) if the registry keeps it, and a runner in run.ts that pushes its
// CacheWrite for after the push.
import { join } from "node:path";
import type { FileLayer } from "../../layer/index.js";
import type { Blob, Descriptor } from "../../oci/index.js";
import type { Reference } from "../../reference/index.js";
import type { Registry } from "../../registry/index.js";
import { readJsonRecord, writeJsonRecord } from "../../json-record.js";
import { digestHex } from "../cache-dir.js";
import { layerFilePath, openCachedLayer, stampOf, type CacheWarning, type CachedLayer, type LayerStamp } from "./cached-layer.js";
import { cacheEntryArtifact, fetchCacheEntry, parseCacheEntry, putCacheEntry, StepCacheAnnotation, type CacheStep, type ParsedCacheEntry } from "./artifact.js";

/** How one step's record is written down; a step kept only on disk or only in the registry leaves the other out. */
export interface StepCodec<R> {
  /** The layers a record names, in image order. */
  layers(record: R): readonly CachedLayer[];
  readonly local?: {
    /** The local JSON (without `format`), from a record stored under `key`. */
    write(record: R, key: string): Record<string, unknown>;
    /** The record in a local JSON, when it is one and was written for `key`. */
    read(json: Record<string, unknown>, key: string): R | undefined;
  };
  readonly registry?: {
    readonly step: CacheStep;
    /** What the step does instead when the entry cannot be read: `building the apt layer`. */
    readonly instead: string;
    /** The manifest's annotations, and one set per layer (after the diffID). */
    annotate(record: R): { readonly manifest: Record<string, string>; readonly layers?: readonly Record<string, string>[] };
    /** The record of a checked entry; throws STEP_CACHE_INVALID (cacheEntryError) when the annotations do not describe one. */
    parse(entry: ParsedCacheEntry, key: string): R;
  };
}

/** The repository the image goes to, whose step cache is read before building and written after the push. */
export interface RegistryCache {
  readonly registry: Registry;
  readonly repository: Reference;
}

export interface StepCacheOptions {
  readonly cacheDir: string;
  readonly registryCache?: RegistryCache;
  /** Skip both lookups (the step runs); what it makes is still stored. */
  readonly refresh?: boolean;
  readonly signal?: AbortSignal;
}

export type StepCacheSource = "local-cache" | "registry-cache";

export interface StepCacheHit<R> {
  readonly source: StepCacheSource;
  readonly record: R;
  /** The record's layers: local files, or the repository's blobs (named as mount sources). */
  readonly layers: readonly Blob[];
}

export type RegistryLookup<R> =
  | { readonly status: "hit"; readonly tag: string; readonly record: R; readonly layers: readonly Blob[] }
  | { readonly status: "miss"; readonly tag: string }
  | { readonly status: "error"; readonly tag: string; readonly error: unknown };

/** A step's output and where it came from; `registry`: what the registry's step cache answered, when it was asked. */
export interface StepRun<R> {
  readonly source: StepCacheSource | "built";
  readonly record: R;
  readonly layers: readonly Blob[];
  readonly registry?: RegistryLookup<R>;
}

const RECORD_FORMAT = 1;

function recordPath(cacheDir: string, key: string): string {
  return join(cacheDir, "steps", `${digestHex(key)}.json`);
}

export class StepCache<R> {
  constructor(
    private readonly codec: StepCodec<R>,
    private readonly options: StepCacheOptions,
  ) {}

  /**
   * The cached output for `key`: this disk first, then the registry (nothing with refresh). An
   * entry that cannot be read is told to `warn` and is a miss; `registry` is what the registry said.
   */
  async lookup(key: string, warn: CacheWarning): Promise<{ readonly hit?: StepCacheHit<R>; readonly registry?: RegistryLookup<R> }> {
    if (this.options.refresh) return {};
    const local = await this.lookupLocal(key, warn);
    if (local) return { hit: { source: "local-cache", ...local } };
    const { registry } = this.codec;
    if (!registry || !this.options.registryCache) return {};
    const found = await lookupRegistry(this.codec, this.options.registryCache, key, this.options.signal);
    if (found.status === "hit") return { hit: { source: "registry-cache", record: found.record, layers: found.layers }, registry: found };
    if (found.status === "error") warn(`step cache ${found.tag} could not be read, ${registry.instead} instead: ${messageOf(found.error)}`);
    return { registry: found };
  }

  /**
   * A step run through the cache: its output for `key` from this disk or the registry, else
   * `build()`, whose output is then remembered on this disk. Storing in the registry comes later,
   * after the image push, when the layers are there (`storeRegistry`).
   */
  async run(key: string, build: () => Promise<{ record: R; layers: readonly Blob[] }>, warn: CacheWarning): Promise<StepRun<R>> {
    const { hit, registry } = await this.lookup(key, warn);
    const output = hit ?? { source: "built" as const, ...(await build()) };
    if (!hit) await this.storeLocal(key, output.record);
    return { ...output, ...(registry ? { registry } : {}) };
  }

  /** The record on this disk with every layer file present and intact. */
  async lookupLocal(key: string, warn: CacheWarning): Promise<{ record: R; layers: FileLayer[] } | undefined> {
    const { local } = this.codec;
    if (!local) return undefined;
    const json = (await readJsonRecord(recordPath(this.options.cacheDir, key))) as Record<string, unknown> | undefined;
    if (json?.format !== RECORD_FORMAT) return undefined;
    const record = local.read(json, key);
    if (record === undefined) return undefined;
    const stamps = isStamps(json.checked) ? json.checked : {};
    const layers: FileLayer[] = [];
    let restamped = false;
    for (const layer of this.codec.layers(record)) {
      const opened = await openCachedLayer(this.options.cacheDir, layer, warn, stamps[layer.digest]);
      if (opened === undefined) return undefined;
      layers.push(opened.file);
      if (opened.checked !== stamps[layer.digest]) {
        stamps[layer.digest] = opened.checked;
        restamped = true;
      }
    }
    // Files hashed just now (copied caches, layers another record healed) need no hashing next time.
    if (restamped) await this.write(key, record, stamps).catch(() => undefined);
    return { record, layers };
  }

  /** Remembers a step's output on this disk; its layer files, just written or checked, are stamped as they are now. */
  async storeLocal(key: string, record: R): Promise<void> {
    const stamps: Record<string, LayerStamp> = {};
    for (const layer of this.codec.layers(record)) {
      const stamp = await stampOf(layerFilePath(this.options.cacheDir, layer.digest));
      if (stamp !== undefined) stamps[layer.digest] = stamp;
    }
    await this.write(key, record, stamps);
  }

  private async write(key: string, record: R, checked: Record<string, LayerStamp>): Promise<void> {
    const { local } = this.codec;
    if (!local) return;
    await writeJsonRecord(recordPath(this.options.cacheDir, key), { format: RECORD_FORMAT, ...local.write(record, key), checked });
  }
}

function isStamps(value: unknown): value is Record<string, LayerStamp> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Looks a step up in the repository; a hit's layers are the repository's own blobs. Never throws but for an abort. */
export async function lookupRegistry<R>(codec: StepCodec<R>, target: RegistryCache, key: string, signal?: AbortSignal): Promise<RegistryLookup<R>> {
  const step = codec.registry;
  if (!step) throw new Error("this step is not kept in the registry");
  const fetched = await fetchCacheEntry(target.registry, target.repository, key, signal);
  if (fetched.status !== "found") return fetched;
  let record: R;
  try {
    record = parseStepArtifact(codec, fetched.bytes, key);
  } catch (error) {
    return { status: "error", tag: fetched.tag, error };
  }
  const { registry, repository } = target;
  const client = registry.client(repository.registry);
  const source: Reference = { registry: repository.registry, repository: repository.repository };
  const layers: Blob[] = codec.layers(record).map((layer) => {
    const descriptor: Descriptor = { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
    return { descriptor, sources: [source], open: () => client.openBlob(repository.repository, descriptor, signal) };
  });
  return { status: "hit", tag: fetched.tag, record, layers };
}

/** The artifact of a step's record over its layer blobs (one per record layer, in order). */
export function stepArtifact<R>(codec: StepCodec<R>, key: string, record: R, layers: readonly Blob[]) {
  const step = codec.registry;
  if (!step) throw new Error("this step is not kept in the registry");
  const annotations = step.annotate(record);
  const descriptors: Descriptor[] = codec.layers(record).map((layer, i) => ({
    mediaType: layer.mediaType,
    digest: layer.digest,
    size: layer.size,
    annotations: { [StepCacheAnnotation.DiffId]: layer.diffId, ...annotations.layers?.[i] },
  }));
  return cacheEntryArtifact(key, step.step, annotations.manifest, descriptors, layers);
}

/** Reads a step's artifact back into its record; throws STEP_CACHE_INVALID unless it is exactly what `stepArtifact` writes for `key`. */
export function parseStepArtifact<R>(codec: StepCodec<R>, bytes: Buffer, key: string): R {
  const step = codec.registry;
  if (!step) throw new Error("this step is not kept in the registry");
  return step.parse(parseCacheEntry(bytes, key, step.step), key);
}

/** Writes a step's entry whose layers are already in the repository (after the image push), unless it is there. */
export function storeRegistry<R>(codec: StepCodec<R>, target: RegistryCache, key: string, record: R, layers: readonly Blob[], signal?: AbortSignal) {
  return putCacheEntry(target.registry, target.repository, key, stepArtifact(codec, key, record, layers), signal);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
