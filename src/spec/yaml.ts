// The yaml package behind one of our ES modules, imported on demand (`await import("./yaml.js")`)
// by the readers of YAML files only. yaml is CommonJS: a bundler's chunk for it on its own exports
// just `default`, while this module's named exports are the same wherever it is loaded from.
export { parse, parseAllDocuments } from "yaml";
