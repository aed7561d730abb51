// Reading specs from files: YAML or JSON documents, and TypeScript/JavaScript modules exporting
// ImageSpec values. Relative paths in a spec resolve against the folder of the file it came from.
//
// A YAML/JSON file holds either one spec, or several under a top-level `specs:` mapping:
//
//   specs:
//     cpu: {name: app, packages: [numpy]}
//     gpu: {name: app-gpu, baseImage: nvidia/cuda:12.4.1-runtime-ubuntu22.04}
//
// `specs` is not a spec field, so the two forms cannot be mistaken for each other. A single spec's
// key is "default" (like a module's default export); in `specs:` the key is the mapping key, and a
// spec without `name` is named after its key.
import { readFile, stat } from "node:fs/promises";
import { dirname, extname, resolve } from "node:path";
import { ImagespecError, ValidationError, type ValidationIssue } from "../errors.js";
import { parseJsonDocument, parseYamlDocument, SpecFileError } from "./documents.js";
import { missingFilesOfInput, verifySpecFiles } from "./files.js";
import { appendSegment, joinPaths } from "./keys.js";
import { ImageSpec } from "./image-spec.js";
import { importUserModule, ModuleLoadError, MODULE_EXTENSIONS } from "./module-loader.js";
import { isImageSpecValue } from "./schema.js";

export { SpecFileError };

export interface LoadedSpec {
  /** "default" for a file's only spec or a module's default export; else the `specs:` key or export name. */
  readonly key: string;
  readonly spec: ImageSpec;
}

const DATA_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);
/** The top-level key that marks a file of several named specs. */
export const SPECS_KEY = "specs";

/**
 * Loads every spec in a file, validated, with the files they name checked to exist. Throws
 * ValidationError (all problems of the file at once) or SpecFileError.
 */
export async function loadSpecs(path: string): Promise<LoadedSpec[]> {
  const file = resolve(path);
  const extension = extname(file).toLowerCase();
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new SpecFileError(path, "no such file", `check the path (resolved to ${file})`);
  if (info.isDirectory()) throw new SpecFileError(path, "is a directory, not a spec file", "name the spec file, e.g. imagespec.yaml");
  // keyed: issues are prefixed with the spec's key (a `specs:` file, or a module with several exports).
  let loaded: LoadedSpec[];
  let keyed: boolean;
  if (DATA_EXTENSIONS.has(extension)) ({ loaded, keyed } = await loadDataFile(path, file, extension));
  else if (MODULE_EXTENSIONS.has(extension)) {
    loaded = await loadModule(path, file, extension);
    keyed = loaded.length > 1;
  } else {
    throw new SpecFileError(path, `unsupported file type ${JSON.stringify(extension || "(none)")}`, "spec files are .yaml, .yml, .json, .ts, .mts, .cts, .js, .mjs or .cjs");
  }

  const issues: ValidationIssue[] = [];
  for (const { key, spec } of loaded) {
    try {
      await verifySpecFiles(spec);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      issues.push(...error.issues.map((issue) => withKey(key, keyed, extension, issue)));
    }
  }
  if (issues.length > 0) throw new ValidationError(issues, { source: path });
  return loaded;
}

async function loadDataFile(path: string, file: string, extension: string): Promise<{ loaded: LoadedSpec[]; keyed: boolean }> {
  const text = await readFile(file, "utf8").catch((error: unknown) => {
    throw new SpecFileError(path, `cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)})`, "check the file's permissions", error);
  });
  const document = extension === ".json" ? parseJsonDocument(path, text) : await parseYamlDocument(path, text);
  const baseDir = dirname(file);

  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new SpecFileError(path, "expected a mapping of spec fields (or specs: with named specs) at the top", "a spec file starts with e.g. name: my-app");
  }
  const top = document as Record<string, unknown>;
  if (!(SPECS_KEY in top)) {
    try {
      return { loaded: [{ key: "default", spec: new ImageSpec(top as never, { baseDir }) }], keyed: false };
    } catch (error) {
      // A missing file is reported with the spec's other problems, not after they are fixed.
      if (error instanceof ValidationError) throw new ValidationError([...error.issues, ...(await missingFilesOfInput(top, baseDir))], { source: path });
      throw error;
    }
  }

  const others = Object.keys(top).filter((k) => k !== SPECS_KEY);
  const specs = top[SPECS_KEY];
  if (others.length > 0) {
    throw new SpecFileError(path, `a file with "specs:" holds nothing else at the top, but it also has ${others.join(", ")}`, "move those fields into each spec under specs:");
  }
  if (typeof specs !== "object" || specs === null || Array.isArray(specs) || Object.keys(specs).length === 0) {
    throw new SpecFileError(path, '"specs:" must map names to specs, e.g. specs: {cpu: {...}, gpu: {...}}', "give each spec a key");
  }

  const loaded: LoadedSpec[] = [];
  const issues: ValidationIssue[] = [];
  for (const [key, raw] of Object.entries(specs as Record<string, unknown>)) {
    const input = typeof raw === "object" && raw !== null && !Array.isArray(raw) && !("name" in raw) ? { name: key, ...raw } : raw;
    try {
      loaded.push({ key, spec: new ImageSpec(input as never, { baseDir }) });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      issues.push(...[...error.issues, ...(await missingFilesOfInput(input, baseDir))].map((issue) => withKey(key, true, extension, issue)));
    }
  }
  if (issues.length > 0) {
    // The valid specs' missing files too, so that the file's problems are all reported at once.
    for (const { key, spec } of loaded) issues.push(...(await missingFilesOfInput(spec.toJSON(), baseDir)).map((issue) => withKey(key, true, extension, issue)));
    throw new ValidationError(issues, { source: path });
  }
  return { loaded, keyed: true };
}

/** Issue paths as they read in the file: `specs.gpu.packages[2]` for a data file, `gpu: ...` for a module export. */
function withKey(key: string, several: boolean, extension: string, issue: ValidationIssue): ValidationIssue {
  if (!several) return issue;
  if (DATA_EXTENSIONS.has(extension)) return { ...issue, path: joinPaths(appendSegment(SPECS_KEY, key), issue.path) };
  return { ...issue, path: issue.path === "" ? `export ${key}` : `export ${key}: ${issue.path}` };
}

/** Imports a module and takes every exported ImageSpec: the default export as "default", named ones by name. */
async function loadModule(path: string, file: string, extension: string): Promise<LoadedSpec[]> {
  let namespace: Record<string, unknown>;
  try {
    namespace = await importUserModule(file, extension);
  } catch (error) {
    // A spec importing another installed copy of imagespec throws that copy's error classes, not
    // ours: recognise a validation error by its shape.
    if (isValidationErrorLike(error)) throw new ValidationError(error.issues, { source: path });
    if (error instanceof ModuleLoadError) throw new SpecFileError(path, `cannot load the module: ${error.problem}`, error.hint ?? "", error.cause);
    if (error instanceof ImagespecError) throw error;
    throw new SpecFileError(path, `cannot load the module: ${(error as Error).message ?? String(error)}`, "run the file with node to see the full error", error);
  }
  const baseDir = dirname(file);
  const exported = Object.entries(namespace).filter(([, value]) => isImageSpecValue(value));
  // A spec exported both as default and by name is listed once, by its name.
  const named = new Set(exported.filter(([key]) => key !== "default").map(([, value]) => value));
  const loaded: LoadedSpec[] = [];
  for (const [key, value] of exported) {
    if (key === "default" && named.has(value)) continue;
    const spec = ImageSpec.from(value);
    loaded.push({ key, spec: spec.baseDirSource === "cwd" ? spec.withBaseDir(baseDir) : spec });
  }
  if (loaded.length === 0) {
    throw new SpecFileError(path, "exports no ImageSpec values", "export them, e.g. export default new ImageSpec({ name: \"my-app\" })");
  }
  // The default export first, the rest in export-name order.
  return loaded.sort((a, b) => (a.key === "default" ? -1 : b.key === "default" ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function isValidationErrorLike(error: unknown): error is { issues: ValidationIssue[] } {
  return error instanceof ValidationError || (error instanceof Error && error.name === "ValidationError" && Array.isArray((error as { issues?: unknown }).issues));
}
