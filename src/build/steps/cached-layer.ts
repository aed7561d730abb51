// A layer as the caches remember it, and its file in the layer cache: `<cacheDir>/layers/sha256-<hex>`
// (where the layer writer puts it). A file is checked before a cache hands it out; a damaged one is
// removed with a warning, so the step builds the layer again (a damaged cache heals itself instead of
// failing every build).
import { rm, stat } from "node:fs/promises";
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
 * What a layer file looked like when its bytes were last checked (or written). Every write to the
 * file moves its ctime, which no one can set back, so an equal stamp means the bytes are the ones
 * that were checked, and a hit need not hash the whole file again.
 */
export interface LayerStamp {
  readonly size: number;
  readonly ino: string;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
}

export async function stampOf(path: string): Promise<LayerStamp | undefined> {
  try {
    const info = await stat(path, { bigint: true });
    return { size: Number(info.size), ino: String(info.ino), mtimeNs: String(info.mtimeNs), ctimeNs: String(info.ctimeNs) };
  } catch {
    return undefined;
  }
}

function sameStamp(a: LayerStamp | undefined, b: LayerStamp | undefined): boolean {
  return a !== undefined && b !== undefined && a.size === b.size && a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * The layer file of a cached layer, its bytes checked against the digest (unless the file is as
 * `stamp` says it was when last checked); undefined when the file is gone. A file with other bytes
 * or another size is removed (with a warning), so the caller builds the layer again and writes a
 * good one. layerFromFile checks the bytes once more on every read, so damage the stamp cannot see
 * fails the push rather than entering an image. `checked` is the stamp that now holds.
 */
export async function openCachedLayer(
  cacheDir: string,
  layer: CachedLayer,
  warn?: CacheWarning,
  stamp?: LayerStamp,
): Promise<{ file: FileLayer; checked: LayerStamp } | undefined> {
  const path = layerFilePath(cacheDir, layer.digest);
  let file: FileLayer;
  try {
    file = await layerFromFile(path, { digest: layer.digest, diffId: layer.diffId, size: layer.size, mediaType: layer.mediaType });
  } catch (error) {
    if ((error as { code?: unknown }).code === "LAYER_SIZE_MISMATCH") await dropDamaged(path, (error as Error).message, warn);
    return undefined;
  }
  const before = await stampOf(path);
  if (before === undefined) return undefined;
  if (sameStamp(before, stamp)) return { file: removedWhenDamaged(file), checked: before };
  const actual = await fileDigest(path).catch(() => undefined);
  if (actual === undefined) return undefined;
  if (actual !== layer.digest) {
    await dropDamaged(path, `cached layer ${path} has sha256 ${actual}, expected ${layer.digest}`, warn);
    return undefined;
  }
  return { file, checked: before };
}

/**
 * The layer whose file is removed when a read finds other bytes (damage no stamp showed): the
 * read fails (the push or layout write stops), and the next build, finding no file, builds it again.
 */
function removedWhenDamaged(file: FileLayer): FileLayer {
  return {
    ...file,
    async open() {
      const stream = await file.open();
      stream.once("error", (error: { code?: unknown }) => {
        if (error.code === "DIGEST_MISMATCH") void rm(file.path, { force: true }).catch(() => undefined);
      });
      return stream;
    },
  };
}

async function dropDamaged(path: string, problem: string, warn: CacheWarning | undefined): Promise<void> {
  await rm(path, { force: true });
  warn?.(`${problem}: the local cache entry is damaged; removed it, building the layer again`);
}

