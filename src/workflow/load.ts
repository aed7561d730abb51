// Reading a workflow file: a TypeScript or JavaScript module whose exports are tasks, workflows and
// launch plans, imported by spec/module-loader (TypeScript by Node's type stripping, tsx as the
// fallback). Values are recognised by their brands (Symbol.for) and errors by their shape, so a
// file that imports another copy of imagespec still works.
import { stat } from "node:fs/promises";
import { dirname, extname, resolve } from "node:path";
import { ImagespecError } from "../errors.js";
import { importUserModule, MODULE_EXTENSIONS } from "../spec/module-loader.js";
import { WorkflowError } from "./errors.js";
import { collectEntities, type Entities } from "./serialize.js";

export interface LoadedWorkflows extends Entities {
  readonly file: string;
  /** The file's folder: relative paths of specs declared without a baseDir resolve against it. */
  readonly baseDir: string;
}

function isImagespecErrorLike(error: unknown): error is Error & { code: string; hint?: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "string" && /^[A-Z][A-Z0-9_]+$/.test((error as unknown as { code: string }).code) && "hint" in error;
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
    namespace = await importUserModule(file, extension);
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
