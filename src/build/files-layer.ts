// The layer of the spec's files (`sourceRoot` and `copy`), reused from the local step cache when
// the tree is unchanged: hashing the files is much cheaper than tarring and compressing them.
import { join } from "node:path";
import { layerFromEntries, type LayerWriteOptions, type FileLayer, type LayerEntry } from "../layer/index.js";
import { treeDigest, type FileEntry } from "../spec/index.js";
import type { CacheWarning } from "./steps/cached-layer.js";
import { readLayerRecord, writeLayerRecord } from "./steps/layer-record.js";
import { filesLayerKey, type LayerIdentity } from "./step-keys.js";

export interface FilesLayerOptions {
  readonly cacheDir: string;
  readonly workdir: string;
  readonly compression: LayerWriteOptions;
  readonly identity: LayerIdentity;
  /** Told when a damaged cache entry is dropped (and the layer rebuilt). */
  readonly warn?: CacheWarning;
}

export async function filesLayer(files: readonly FileEntry[], options: FilesLayerOptions): Promise<{ layer: FileLayer; fromCache: boolean }> {
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
  const layer = await layerFromEntries(entries, { cacheDir: join(options.cacheDir, "layers"), epoch: options.identity.epoch, ...options.compression });
  await writeLayerRecord(options.cacheDir, key, layer);
  return { layer, fromCache: false };
}
