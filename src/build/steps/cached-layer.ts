// A layer as the caches remember it, and its file in the layer cache: `<cacheDir>/layers/sha256-<hex>`
// (where the layer writer puts it). A file is checked before a cache hands it out; a damaged one is
// removed with a warning, so the step builds the layer again (a damaged cache heals itself instead of
// failing every build).
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { layerFromFile, type FileLayer } from "../../layer/index.js";
import { isDigest, type Descriptor } from "../../oci/index.js";
import { fileDigest } from "../../spec/index.js";
import { digestHex } from "../cache-dir.js";

/** A layer as a cache remembers it. */
export interface CachedLayer {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly diffId: string;
}

export function cachedLayerOf(layer: { readonly descriptor: Descriptor; readonly diffId: string }): CachedLayer {
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

/** Where a cache tells about an entry it dropped or could not read (the builder's warning events). */
export type CacheWarning = (message: string) => void;

export function layerFilePath(cacheDir: string, digest: string): string {
  return join(cacheDir, "layers", `sha256-${digestHex(digest)}`);
}

/**
 * The layer file of a cached layer, its bytes checked against the digest; undefined when the file
 * is gone. A file with other bytes or another size is removed (with a warning), so the caller
 * builds the layer again and writes a good one. layerFromFile checks the bytes once more on every
 * read, so damage after this check fails the push rather than entering an image.
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

