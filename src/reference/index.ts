export * from "./reference.js";
