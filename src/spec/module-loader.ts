// Importing a user's TypeScript or JavaScript file (a spec file or a workflow file) into this
// process's own module graph, so its `import { ImageSpec } from "imagespec"` gets the instances the
// tool itself runs on (one copy of imagespec and of undici; a second copy loaded by a namespaced
// compiler is what crashed with "Illegal constructor").
//
// TypeScript is run by Node's own type stripping (Node >= 22.18 does it by default): nothing to
// compile, no second loader. Syntax that stripping cannot handle (enums, namespaces, parameter
// properties) and imports Node cannot resolve as written (`./common` without an extension, `./common.js`
// for a common.ts) are what tsx exists for: its loader is registered once, globally (not namespaced),
// and the file imported again through it.
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

/** A module that neither Node nor tsx can load, with what to change. */
export class ModuleLoadError extends ImagespecError {
  constructor(
    file: string,
    /** What Node said, without the file name (callers name the file as the user wrote it). */
    readonly problem: string,
    hint: string,
    cause: unknown,
  ) {
    super("INVALID_MODULE", `${file}: cannot load the module: ${problem}`, { hint, cause });
  }
}

/**
 * Imports the file and returns its exports by name (`default` for the default export; a CommonJS
 * module's `module.exports` is its default, and its properties are named exports). An error the
 * module itself throws while it runs (a spec that fails validation, a `throw`) comes out unchanged.
 */
export async function importUserModule(file: string, extension: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  if (!TYPESCRIPT_EXTENSIONS.has(extension)) return exportsOf(await import(url));
  try {
    return exportsOf(await import(url));
  } catch (error) {
    if (!NEEDS_COMPILER.has(errorCode(error))) throw error;
    try {
      await registerTsx();
      // Node keeps the failed import of this URL; a fragment makes a new module record for the
      // file itself (a query would not: tsx reads it as part of a CommonJS path).
      return exportsOf(await import(`${url}#imagespec-tsx`));
    } catch (compiled) {
      // An error the module threw while running under tsx is the module's; a loader error says
      // nothing beyond Node's first one: report that, with the fix.
      if (!isLoaderError(compiled)) throw compiled;
      throw new ModuleLoadError(file, firstLine(error), typescriptHint(error), error);
    }
  }
}

let tsxRegistration: Promise<void> | undefined;

/** tsx's loader, registered once for the process (concurrent loads share the one registration). */
function registerTsx(): Promise<void> {
  tsxRegistration ??= (async () => {
    const tsx = (await import("tsx/esm/api")) as { register: () => unknown };
    tsx.register();
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
