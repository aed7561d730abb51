export * from "./media-types.js";
export * from "./digest.js";
export * from "./types.js";
export * from "./image.js";
export * from "./layout.js";
