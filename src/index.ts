// imagespec's public library API.
export * from "./errors.js";
export * from "./reference/index.js";
export * from "./oci/index.js";
export * from "./spec/index.js";
export * from "./ecr/index.js";
export * from "./layer/index.js";
export * from "./registry/index.js";
export * from "./build/index.js";
export * from "./python/index.js";
export * from "./workflow/index.js";
export * from "./session/index.js";
