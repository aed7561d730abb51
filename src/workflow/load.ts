// Reading a workflow file: a TypeScript or JavaScript module whose exports are tasks, workflows and
// launch plans. A .ts file is compiled by tsx. Values are recognised by their brands (Symbol.for)
// and errors by their shape, so a file that imports another copy of imagespec still works.
import { stat } from "node:fs/promises";
import { register } from "node:module";
import { dirname, extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ImagespecError } from "../errors.js";
import { WorkflowError } from "./errors.js";
import { collectEntities, type Entities } from "./serialize.js";

const MODULE_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);
const TYPESCRIPT_EXTENSIONS = new Set([".ts", ".mts", ".cts"]);

export interface LoadedWorkflows extends Entities {
  readonly file: string;
  /** The file's folder: relative paths of specs declared without a baseDir resolve against it. */
  readonly baseDir: string;
}

function isImagespecErrorLike(error: unknown): error is Error & { code: string; hint?: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "string" && /^[A-Z][A-Z0-9_]+$/.test((error as unknown as { code: string }).code) && "hint" in error;
}

let loadersRegistered = false;

/**
 * A resolve hook registered after tsx's, so it sees tsx's answer first: a .ts or .js file outside
 * node_modules that Node would read as CommonJS (no package.json with "type": "module" above it)
 * but is written with import/export statements is loaded as an ES module. Without it, tsx compiles
 * a bare `workflows.ts` to CommonJS, whose require() of the already loading imagespec fails on
 * Node 20 ("Cannot require() ES Module ... not yet fully loaded"). Node >= 22 detects the syntax
 * the same way for files it loads itself.
 */
const ESM_SYNTAX_HOOK = `
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
const ESM_STATEMENT = /^[ \\t]*(import[ \\t{*"']|export[ \\t{*])/m;
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (result.format !== "commonjs" && result.format !== "commonjs-typescript") return result;
  const url = result.url;
  if (!url.startsWith("file:") || url.includes("/node_modules/") || !/\\.(ts|js)(\\?|$)/.test(url)) return result;
  let source;
  try {
    source = readFileSync(fileURLToPath(url.replace(/\\?.*$/, "")), "utf8");
  } catch {
    return result;
  }
  return ESM_STATEMENT.test(source) ? { ...result, format: "module" } : result;
}
`;

/**
 * Node 20 cannot import .ts at all; Node's own TypeScript support (>= 22.18) refuses some files tsx
 * compiles (enums, `import "./helpers.js"` meaning helpers.ts). Those are retried through tsx.
 */
const RETRY_WITH_TSX = new Set(["ERR_UNKNOWN_FILE_EXTENSION", "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX", "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING", "ERR_MODULE_NOT_FOUND"]);

/**
 * Imports the module into this process's module graph, so the file's `import ... from "imagespec"`
 * gets the same instances as the tool (tsx's namespaced tsImport would load a second copy of
 * imagespec and its dependencies, and undici refuses to be loaded twice). TypeScript is compiled
 * by tsx's loader, registered once when Node cannot import .ts by itself, with the hook above.
 */
async function importModule(url: string, typescript: boolean): Promise<Record<string, unknown>> {
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    // A .js module with import statements and no "type": "module" above it (Node 20 reads it as CommonJS).
    const esmAsCommonJs = error instanceof SyntaxError && /import statement outside a module|Unexpected token 'export'/.test(error.message);
    if (!(typescript && RETRY_WITH_TSX.has(code)) && !esmAsCommonJs) throw error;
  }
  if (!loadersRegistered) {
    const tsx = (await import("tsx/esm/api")) as { register: () => unknown };
    tsx.register();
    register(`data:text/javascript,${encodeURIComponent(ESM_SYNTAX_HOOK)}`);
    loadersRegistered = true;
  }
  // Node remembers the failed import of this URL; a query makes it a new one (its imports are unchanged).
  return (await import(`${url}?imagespec-tsx`)) as Record<string, unknown>;
}

/** Imports `path` and collects what it declares. Throws WorkflowError for a file that cannot be used. */
export async function loadWorkflowFile(path: string): Promise<LoadedWorkflows> {
  const file = resolve(path);
  const extension = extname(file).toLowerCase();
  const info = await stat(file).catch(() => undefined);
  if (!info || !info.isFile()) throw new WorkflowError("INVALID_WORKFLOW_FILE", `${path}: no such file`, `check the path (resolved to ${file})`);
  if (!MODULE_EXTENSIONS.has(extension)) throw new WorkflowError("INVALID_WORKFLOW_FILE", `${path}: a workflow file is a .ts or .js module, not ${JSON.stringify(extension || "(none)")}`, "export tasks, workflows and launch plans from a TypeScript or JavaScript module");
  let namespace: Record<string, unknown>;
  try {
    namespace = await importModule(pathToFileURL(file).href, TYPESCRIPT_EXTENSIONS.has(extension));
  } catch (error) {
    // A declaration error (from this copy of imagespec or another one): same code and hint, with the file named.
    if (error instanceof ImagespecError || isImagespecErrorLike(error)) throw new WorkflowError(error.code, `${path}: ${error.message}`, error.hint ?? "fix the declaration named above", error);
    throw new WorkflowError("INVALID_WORKFLOW_FILE", `${path}: cannot load the module: ${error instanceof Error ? error.message : String(error)}`, "run it with node (or tsx for TypeScript) to see the full error", error);
  }
  let entities: Entities;
  try {
    entities = collectEntities(Object.values(namespace));
  } catch (error) {
    if (error instanceof ImagespecError) throw new WorkflowError(error.code, `${path}: ${error.message}`, error.hint ?? "", error);
    throw error;
  }
  if (entities.tasks.length === 0 && entities.workflows.length === 0) {
    throw new WorkflowError("INVALID_WORKFLOW_FILE", `${path}: exports no tasks, workflows or launch plans`, "export them, e.g. export const wf = workflow({...}, ...)");
  }
  return { ...entities, file, baseDir: dirname(file) };
}
