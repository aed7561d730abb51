// A single layer kept on this disk under a key (the files layer, a group of wheels): the codec of a
// step whose whole output is one layer and which the registry does not keep.
import type { FileLayer, Layer } from "../../layer/index.js";
import { StepCache, type StepCodec } from "./cache.js";
import { cachedLayerOf, isCachedLayer, type CachedLayer, type CacheWarning } from "./cached-layer.js";

export const layerCodec: StepCodec<CachedLayer> = {
  layers: (layer) => [layer],
  local: {
    write: (layer, key) => ({ key, layer }),
    read: (json, key) => (json.key === key && isCachedLayer(json.layer) ? json.layer : undefined),
  },
};

/** The layer stored under `key`, its file present and intact. */
export async function readLayerRecord(cacheDir: string, key: string, warn?: CacheWarning): Promise<FileLayer | undefined> {
  const found = await new StepCache(layerCodec, { cacheDir }).lookupLocal(key, warn ?? (() => undefined));
  return found?.layers[0];
}

export async function writeLayerRecord(cacheDir: string, key: string, layer: Layer): Promise<void> {
  await new StepCache(layerCodec, { cacheDir }).storeLocal(key, cachedLayerOf(layer));
}
