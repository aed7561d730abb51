// Layers: reproducible tars from entries, compressed with their digests in one pass.
export * from "./errors.js";
export * from "./entries.js";
export * from "./epoch.js";
export * from "./tar.js";
export * from "./parallel-gzip.js";
export { closeGzipWorkers } from "./gzip-workers.js";
export * from "./compress.js";
export * from "./layer.js";
