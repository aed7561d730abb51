// The local step cache: `<cacheDir>/steps/<key>.json` maps a step key to what the step made, and
// the compressed layers themselves sit in `<cacheDir>/layers/sha256-<hex>` (where the layer writer
// puts them). A hit is verified before it is used: a layer file whose bytes no longer match its
// digest is removed with a warning and the step builds it again (a damaged cache heals itself
// instead of failing every build). layerFromFile checks the bytes once more on every read, so
// damage after the check fails the push rather than entering an image. Anything unreadable is a miss.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { isDigest } from "../oci/index.js";
import { layerFromFile, type FileLayer, type Layer } from "../layer/index.js";
import { parseWheelFilename } from "../python/index.js";
import { fileDigest } from "../spec/index.js";
import { digestHex, readJsonRecord, writeJsonRecord } from "./cache-dir.js";

/** A layer as a cache remembers it. */
export interface CachedLayer {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly diffId: string;
}

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

const RECORD_FORMAT = 1;

export function layerFilePath(cacheDir: string, digest: string): string {
  return join(cacheDir, "layers", `sha256-${digestHex(digest)}`);
}

function recordPath(cacheDir: string, key: string): string {
  return join(cacheDir, "steps", `${digestHex(key)}.json`);
}

export function cachedLayerOf(layer: Layer): CachedLayer {
  return { mediaType: layer.descriptor.mediaType, digest: layer.descriptor.digest, size: layer.descriptor.size, diffId: layer.diffId };
}

export function isCachedLayer(value: unknown): value is CachedLayer {
  const layer = value as Partial<CachedLayer> | undefined;
  return (
    typeof layer?.mediaType === "string" &&
    typeof layer.digest === "string" &&
    isDigest(layer.digest) &&
    typeof layer.diffId === "string" &&
    isDigest(layer.diffId) &&
    Number.isSafeInteger(layer.size) &&
    (layer.size ?? -1) >= 0
  );
}

/** Where a cache tells about an entry it dropped (the builder's warning events). */
export type CacheWarning = (message: string) => void;

/**
 * The layer file of a cached layer, its bytes checked against the digest; undefined when the file
 * is gone. A file with other bytes or another size is removed (with a warning), so the caller
 * builds the layer again and writes a good one.
 */
export async function openCachedLayer(cacheDir: string, layer: CachedLayer, warn?: CacheWarning): Promise<FileLayer | undefined> {
  const path = layerFilePath(cacheDir, layer.digest);
  let file: FileLayer;
  try {
    file = await layerFromFile(path, { digest: layer.digest, diffId: layer.diffId, size: layer.size, mediaType: layer.mediaType });
  } catch (error) {
    if ((error as { code?: unknown }).code === "LAYER_SIZE_MISMATCH") await dropDamaged(path, (error as Error).message, warn);
    return undefined;
  }
  const actual = await fileDigest(path).catch(() => undefined);
  if (actual === undefined) return undefined;
  if (actual !== layer.digest) {
    await dropDamaged(path, `cached layer ${path} has sha256 ${actual}, expected ${layer.digest}`, warn);
    return undefined;
  }
  return file;
}

async function dropDamaged(path: string, problem: string, warn: CacheWarning | undefined): Promise<void> {
  await rm(path, { force: true });
  warn?.(`${problem}: the local cache entry is damaged; removed it, building the layer again`);
}

/** A single layer stored under a key (a wheel group, the files). */
export async function readLayerRecord(cacheDir: string, key: string, warn?: CacheWarning): Promise<FileLayer | undefined> {
  const record = (await readJsonRecord(recordPath(cacheDir, key))) as { format?: unknown; key?: unknown; layer?: unknown } | undefined;
  if (record?.format !== RECORD_FORMAT || record.key !== key || !isCachedLayer(record.layer)) return undefined;
  return openCachedLayer(cacheDir, record.layer, warn);
}

export async function writeLayerRecord(cacheDir: string, key: string, layer: Layer): Promise<void> {
  await writeJsonRecord(recordPath(cacheDir, key), { format: RECORD_FORMAT, key, layer: cachedLayerOf(layer) });
}

export async function readPythonStepRecord(cacheDir: string, key: string): Promise<PythonStepRecord | undefined> {
  const record = (await readJsonRecord(recordPath(cacheDir, key))) as { format?: unknown; step?: unknown } | undefined;
  if (record?.format !== RECORD_FORMAT || record.step === undefined) return undefined;
  const step = record.step as PythonStepRecord;
  return isPythonStepRecord(step) && step.key === key ? step : undefined;
}

export async function writePythonStepRecord(cacheDir: string, record: PythonStepRecord): Promise<void> {
  await writeJsonRecord(recordPath(cacheDir, record.key), { format: RECORD_FORMAT, step: record });
}

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

export async function readAptStepRecord(cacheDir: string, key: string): Promise<AptStepRecord | undefined> {
  const record = (await readJsonRecord(recordPath(cacheDir, key))) as { format?: unknown; apt?: unknown } | undefined;
  if (record?.format !== RECORD_FORMAT || !isAptStepRecord(record.apt)) return undefined;
  return record.apt.key === key ? record.apt : undefined;
}

export async function writeAptStepRecord(cacheDir: string, record: AptStepRecord): Promise<void> {
  await writeJsonRecord(recordPath(cacheDir, record.key), { format: RECORD_FORMAT, apt: record });
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
