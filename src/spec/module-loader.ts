// Importing a user's TypeScript or JavaScript file (a spec file or a workflow file) into this
// process's own module graph, so its `import { ImageSpec } from "imagespec"` gets the instances the
// tool itself runs on (one copy of imagespec and of undici; a second copy loaded by a namespaced
// compiler is what crashed with "Illegal constructor").
//
// TypeScript is run by Node's own type stripping (Node >= 22.18 does it by default): nothing to
// compile, no second loader; a small resolve hook adds TypeScript's reading of relative imports
// (`./common` and `./common.js` for common.ts). Syntax that stripping cannot handle (enums,
// namespaces, parameter properties) is what tsx exists for: its loader is registered once, globally
// (not namespaced), and the file imported again through it.
import { register } from "node:module";
import { pathToFileURL } from "node:url";
import { ImagespecError } from "../errors.js";

export const MODULE_EXTENSIONS: ReadonlySet<string> = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);
const TYPESCRIPT_EXTENSIONS: ReadonlySet<string> = new Set([".ts", ".mts", ".cts"]);

/** Node's codes for a TypeScript file it cannot run by stripping types; tsx may still compile it. */
const NEEDS_COMPILER = new Set([
  "ERR_UNKNOWN_FILE_EXTENSION", // a Node without type stripping (or started with --no-experimental-strip-types)
  "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX", // enum, namespace, parameter properties
  "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING", // .ts inside node_modules
  "ERR_MODULE_NOT_FOUND", // `./common` or `./common.js` for common.ts: TypeScript's resolution, not Node's
  "ERR_UNSUPPORTED_DIR_IMPORT", // `./lib` for lib/index.ts
]);

const RETRY_AFTER_FAILED_IMPORT = Number(process.versions.node.split(".")[0]) >= 23;

/** A module that neither Node nor tsx can load, with what to change. */
export class ModuleLoadError extends ImagespecError {
  constructor(
    /** What Node said, without the file name (callers name the file as the user wrote it). */
    readonly problem: string,
    hint: string,
    cause: unknown,
  ) {
    // The file is not in the message: the callers (spec and workflow loading) name it as written.
    super("INVALID_MODULE", `cannot load the module: ${problem}`, { hint, cause });
  }
}

/**
 * Imports the file and returns its exports by name (`default` for the default export; a CommonJS
 * module's `module.exports` is its default, and its properties are named exports). An error the
 * module itself throws while it runs (a spec that fails validation, a `throw`) comes out unchanged.
 */
export async function importUserModule(file: string, extension: string): Promise<Record<string, unknown>> {
  try {
    return await importModule(file, extension);
  } catch (error) {
    // Node 22's require() of an ES module that this process has already imported (imagespec
    // itself) fails inside Node; Node 23 and later do it.
    if (!RETRY_AFTER_FAILED_IMPORT && /is not in cache/.test(firstLine(error))) {
      throw new ModuleLoadError(firstLine(error), "Node 22 cannot require() imagespec (an ES module) from a CommonJS file here: write the file with import (a .ts or .mts file), or run imagespec on Node 24", error);
    }
    throw error;
  }
}

async function importModule(file: string, extension: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  if (!TYPESCRIPT_EXTENSIONS.has(extension)) return exportsOf(await import(url));
  registerTypeScriptResolution();
  // Node 22 keeps a module that failed to load (an enum in an imported file) under its URL, so a
  // second try through tsx would meet the same failure: there tsx compiles from the start.
  if (!RETRY_AFTER_FAILED_IMPORT) {
    await registerTsx();
    try {
      return exportsOf(await import(url));
    } catch (error) {
      if (!isLoaderError(error)) throw error;
      throw new ModuleLoadError(firstLine(error), typescriptHint(error), error);
    }
  }
  try {
    return exportsOf(await import(url));
  } catch (error) {
    if (!NEEDS_COMPILER.has(errorCode(error))) throw error;
    try {
      await registerTsx();
      return exportsOf(await importAgain(url));
    } catch (compiled) {
      // An error the module threw while running under tsx is the module's; a loader error says
      // nothing beyond Node's first one: report that, with the fix.
      if (!isLoaderError(compiled)) throw compiled;
      throw new ModuleLoadError(firstLine(error), typescriptHint(error), error);
    }
  }
}

/**
 * A resolve hook registered after tsx's, so it sees tsx's answer first: a .ts or .js file outside
 * node_modules that Node would read as CommonJS (no package.json with "type": "module" above it)
 * but is written with import/export statements is loaded as an ES module. Without it tsx compiles
 * a bare `images.ts` to CommonJS, whose require() of the already loading imagespec fails
 * ("Cannot require() ES Module ... in a cycle" on Node 22). Node detects the syntax the same way
 * for files it loads itself.
 */
const ESM_SYNTAX_HOOK = `
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
const ESM_STATEMENT = /^[ \\t]*(import[ \\t{*"']|export[ \\t{*])/m;
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (result.format !== "commonjs" && result.format !== "commonjs-typescript") return result;
  const url = result.url;
  if (!url.startsWith("file:") || url.includes("/node_modules/") || !/\\.(ts|js)([?#]|$)/.test(url)) return result;
  let source;
  try {
    source = readFileSync(fileURLToPath(url.replace(/[?#].*$/, "")), "utf8");
  } catch {
    return result;
  }
  return ESM_STATEMENT.test(source) ? { ...result, format: "module" } : result;
}
`;

/**
 * TypeScript's resolution of relative imports, for Node's own type stripping: a TypeScript file's
 * `./tasks.js` means tasks.ts and `./tasks` means tasks.ts (or tasks/index.ts), which Node alone
 * does not find. Tried only after Node's own resolution fails, so nothing that resolves changes.
 */
const TYPESCRIPT_RESOLVE_HOOK = `
const FROM_TYPESCRIPT = /\\.[cm]?ts(?:[?#].*)?$/;
function candidates(specifier) {
  const js = /\\.([cm]?)js$/.exec(specifier);
  if (js) return [specifier.slice(0, -js[0].length) + "." + js[1] + "ts"];
  if (/\\.[a-z]+$/i.test(specifier)) return [];
  return [specifier + ".ts", specifier + ".mts", specifier + "/index.ts"];
}
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const relative = specifier.startsWith("./") || specifier.startsWith("../");
    if (error?.code !== "ERR_MODULE_NOT_FOUND" && error?.code !== "ERR_UNSUPPORTED_DIR_IMPORT") throw error;
    if (!relative || !FROM_TYPESCRIPT.test(context.parentURL ?? "")) throw error;
    for (const candidate of candidates(specifier)) {
      try {
        return await nextResolve(candidate, context);
      } catch {
        // the next candidate
      }
    }
    throw error;
  }
}
`;

let typescriptResolution = false;

function registerTypeScriptResolution(): void {
  if (typescriptResolution) return;
  register(`data:text/javascript,${encodeURIComponent(TYPESCRIPT_RESOLVE_HOOK)}`);
  typescriptResolution = true;
}

/**
 * Node keeps the failed import of a URL: the file is imported again under a new one. A query is
 * what tsx's ES module resolver follows (relative imports of the file resolve as TypeScript does);
 * tsx's CommonJS path (a .cts) reads a query as part of the file name, and takes a fragment.
 */
async function importAgain(url: string): Promise<unknown> {
  try {
    return await import(`${url}?imagespec-tsx`);
  } catch (error) {
    if (!isLoaderError(error)) throw error;
    return await import(`${url}#imagespec-tsx`);
  }
}

let tsxRegistration: Promise<void> | undefined;

/** tsx's loader and the hook above, registered once for the process (concurrent loads share it). */
function registerTsx(): Promise<void> {
  tsxRegistration ??= (async () => {
    const tsx = (await import("tsx/esm/api")) as { register: () => unknown };
    tsx.register();
    register(`data:text/javascript,${encodeURIComponent(ESM_SYNTAX_HOOK)}`);
  })();
  return tsxRegistration;
}

function exportsOf(namespace: unknown): Record<string, unknown> {
  const record = { ...(namespace as Record<string, unknown>) };
  // Node 23+ also lists a CommonJS module's exports object under this name: it is the default.
  delete record["module.exports"];
  const value = record.default;
  // A module compiled to CommonJS (by tsx, or tsc) marks its exports object; its properties are the exports.
  if (typeof value === "object" && value !== null && (value as { __esModule?: unknown }).__esModule === true) {
    return { ...(value as Record<string, unknown>) };
  }
  return record;
}

function isLoaderError(error: unknown): boolean {
  const code = errorCode(error);
  return code.startsWith("ERR_") || code === "MODULE_NOT_FOUND" || error instanceof SyntaxError;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : "";
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}

function typescriptHint(error: unknown): string {
  switch (errorCode(error)) {
    case "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX":
      return "Node runs TypeScript by removing the types; write an enum as a const object and a namespace as a module, or compile the file to .js";
    case "ERR_MODULE_NOT_FOUND":
    case "ERR_UNSUPPORTED_DIR_IMPORT":
      return "write relative imports as the file is named (./common.ts, ./lib/index.ts), and install the packages the file imports in its project";
    case "ERR_UNKNOWN_FILE_EXTENSION":
      return "run imagespec on Node >= 22.19, which runs TypeScript itself, or compile the file to .js";
    default:
      return "run the file with node to see the full error";
  }
}
