// imagespec's public library API.
export * from "./errors.js";
export * from "./reference/index.js";
export * from "./oci/index.js";
