export * from "./config.js";
export * from "./plan.js";
export * from "./native.js";
