export * from "./reference.js";
export * from "./redact.js";
