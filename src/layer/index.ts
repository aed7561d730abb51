// imagespec/layer: reproducible tars from entries, compressed with their digests in one pass. How
// entries are normalised and ordered and the block-parallel gzip engine are internals.
export * from "./errors.js";
export type { EntryType, LayerEntry } from "./entries.js";
export * from "./epoch.js";
export * from "./tar.js";
export { closeGzipWorkers } from "./gzip-workers.js";
export * from "./compress.js";
export * from "./layer.js";
