// Turning user input (a parsed YAML/JSON document or an object in code) into spec fields, with every
// problem reported at once as a ValidationIssue that names the field as the user wrote it, the bad
// value and what is expected. Problems that should not stop a build (an AWS region newer than our
// table) come back as warnings for the caller to show.
import { isDeepStrictEqual } from "node:util";
import type { z } from "zod";
import type { ValidationIssue } from "../errors.js";
import { ValidationError } from "../errors.js";
import { parseRegistryLocation } from "../reference/reference.js";
import { ImageSpec } from "./image-spec.js";
import { formatPath, joinPaths, normaliseKeys, type PathSegments } from "./keys.js";
import { lockKindOf } from "./lock-files.js";
import { baseSpecSchema, BUILDER_OPTIONS, BUILDERS, copyEntrySchema, imageSpecSchema, isImageSpecValue, type Builder, type CopyEntry, type ImageSpecFields } from "./schema.js";
import { didYouMean } from "./suggest.js";
import { specVendors } from "./vendor.js";

export interface Validated {
  fields?: ImageSpecFields;
  issues: ValidationIssue[];
  warnings: ValidationIssue[];
}

/**
 * Validates raw spec input. A nested `baseImage` given as a plain object becomes an ImageSpec with
 * the same base folder; its issues are reported under `baseImage.`.
 */
export function validateSpecInput(input: unknown, baseDir: string, baseDirExplicit: boolean): Validated {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { issues: [{ path: "", message: `expected a mapping of spec fields, got ${describeValue(input)}`, hint: "a spec looks like {name: my-app, packages: [numpy]}" }], warnings: [] };
  }
  const schema = imageSpecSchema();
  const keys = normaliseKeys(input, schema);
  const issues = [...keys.issues];
  const warnings: ValidationIssue[] = [];
  const value = keys.value as Record<string, unknown>;
  warnings.push(...lowerCaseRegistry(value, keys.written));
  issues.push(...builderOptionIssues(value, keys.written));

  const base = value.baseImage;
  if (base !== undefined && typeof base === "object" && base !== null && !isImageSpecValue(base)) {
    const where = formatPath(["baseImage"], keys.written);
    try {
      // A nested spec shares its parent's folder, defaulted or not, so rebinding the parent rebinds it.
      const nested = new ImageSpec(base as never, baseDirExplicit ? { baseDir } : {});
      warnings.push(...nested.warnings.map((w) => prefixed(where, w)));
      value.baseImage = nested;
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      issues.push(...error.issues.map((i) => prefixed(where, i)));
      delete value.baseImage;
    }
  } else if (isImageSpecValue(base) && !(base instanceof ImageSpec)) {
    // An ImageSpec from another copy of this package (a user's module importing its own install).
    value.baseImage = ImageSpec.from(base);
  }

  const parsed = schema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    issues.push(...parsed.error.issues.map((issue) => toValidationIssue(issue, keys.written)));
    return { issues, warnings };
  }
  // cuDNN is built per CUDA major: the wheel (and the conda build) is chosen by cuda.
  if (parsed.data.cudnn !== undefined && parsed.data.cuda === undefined) {
    issues.push({ path: formatPath(["cudnn"], keys.written), message: "needs cuda: the CUDA version picks the cuDNN build", hint: 'add cuda, e.g. cuda: "12.4"' });
  }
  // flytekit's rule for a lock: it is the whole set, so nothing else is installed with it.
  const lock = parsed.data.requirements === undefined ? undefined : lockKindOf(parsed.data.requirements);
  if (lock !== undefined && parsed.data.packages.length > 0) {
    issues.push({ path: formatPath(["packages"], keys.written), message: `cannot be combined with requirements: ${lock} (the lock is the whole set)`, hint: "add the packages to pyproject.toml and lock again (uv add, or poetry add)" });
  }
  if (lock !== undefined && parsed.data.cuda !== undefined) {
    issues.push({ path: formatPath(["cuda"], keys.written), message: `cannot be combined with requirements: ${lock} (the lock is the whole set)`, hint: "add nvidia-cuda-runtime-cu12 (and nvidia-cudnn-cu12) to the project and lock again" });
  }
  if (issues.length > 0) return { issues, warnings };
  warnings.push(...registryWarnings(parsed.data, keys.written));
  return { fields: parsed.data, issues, warnings };
}

/**
 * Registry paths are lower-case (the distribution spec's repository grammar); flytekit lower-cases
 * the registry it is given, and so does imagespec, saying so. The registry is not part of the tag.
 */
function lowerCaseRegistry(value: Record<string, unknown>, written: ReadonlyMap<string, string>): ValidationIssue[] {
  const registry = value.registry;
  if (typeof registry !== "string" || registry === registry.toLowerCase()) return [];
  value.registry = registry.toLowerCase();
  return [{ path: formatPath(["registry"], written), message: `${JSON.stringify(registry)} is used as ${JSON.stringify(value.registry)}: registry paths are lower-case (flytekit lower-cases it too)` }];
}

/** Each `builderOptions` key must be one the spec's builder reads (keys.ts has already named unknown ones). */
function builderOptionIssues(value: Record<string, unknown>, written: ReadonlyMap<string, string>): ValidationIssue[] {
  const builder = value.builder ?? "auto";
  const options = value.builderOptions;
  if (typeof builder !== "string" || !Object.hasOwn(BUILDER_OPTIONS, builder) || typeof options !== "object" || options === null) return [];
  const accepted = BUILDER_OPTIONS[builder as Builder];
  const issues: ValidationIssue[] = [];
  for (const key of Object.keys(options)) {
    if (accepted.includes(key)) continue;
    const readers = BUILDERS.filter((b) => b !== "auto" && BUILDER_OPTIONS[b].includes(key));
    issues.push({
      path: formatPath(["builderOptions", key], written),
      message: `builder ${builder} does not read this option; ${readers.join(", ")} ${readers.length === 1 ? "reads" : "read"} it`,
      hint: `remove it, or set builder to auto or to one that reads it; builder ${builder} reads ${accepted.length > 0 ? accepted.join(", ") : "no options"}`,
    });
  }
  return issues;
}

/** What the file checks (files.ts) read: an ImageSpec, or the valid path fields of input that is not one. */
export interface SpecPaths {
  readonly baseDir: string;
  readonly requirements?: string | undefined;
  readonly sourceRoot?: string | undefined;
  /** An entry that is not valid on its own is left out (undefined), so the others keep their index. */
  readonly copy: readonly (CopyEntry | undefined)[];
  readonly baseImage?: string | SpecPaths | undefined;
  /** The fields as the user wrote them (`source_root`), for the issue paths; default camelCase. */
  readonly written?: Readonly<Partial<Record<PathField, string>>>;
}

type PathField = "requirements" | "sourceRoot" | "copy" | "baseImage";

/** The path fields of raw spec input (a nested base spec's too) that are valid on their own. */
export function validPaths(input: unknown, baseDir: string): SpecPaths | undefined {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return undefined;
  const keys = normaliseKeys(input, imageSpecSchema());
  const value = keys.value as Record<string, unknown>;
  const { shape } = baseSpecSchema;
  const valid = <T>(schema: z.ZodType<T>, raw: unknown): T | undefined => {
    const parsed = schema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  };
  const base = value.baseImage;
  return {
    baseDir,
    requirements: valid(shape.requirements, value.requirements),
    sourceRoot: valid(shape.sourceRoot, value.sourceRoot),
    copy: Array.isArray(value.copy) ? value.copy.map((entry) => valid(copyEntrySchema, entry)) : [],
    baseImage: isImageSpecValue(base) ? (base as SpecPaths) : validPaths(base, baseDir),
    written: Object.fromEntries((["requirements", "sourceRoot", "copy", "baseImage"] as const).map((field) => [field, formatPath([field], keys.written)])),
  };
}

/** The vendors' warnings: about the registry host (an AWS region newer than the table), and settings for a registry that is not theirs. */
function registryWarnings(fields: ImageSpecFields, written: ReadonlyMap<string, string>): ValidationIssue[] {
  const warnings: ValidationIssue[] = [];
  const host = fields.registry === undefined ? undefined : parseRegistryLocation(fields.registry).host;
  for (const vendor of specVendors()) {
    const warning = host === undefined ? undefined : vendor.checkRegistry(fields.registry!, host).warning;
    if (warning !== undefined) warnings.push({ path: formatPath(["registry"], written), message: warning });
  }
  for (const vendor of specVendors()) {
    // Compared with the defaults rather than checked for presence: a rebuilt spec always carries them.
    const set = !isDeepStrictEqual((fields as unknown as Record<string, unknown>)[vendor.key], vendor.settings.parse({}));
    if (set && (host === undefined || !vendor.claims(host))) {
      warnings.push({
        path: formatPath([vendor.key], written),
        message: `the ${vendor.key} settings are ignored: ${host === undefined ? "no registry is set" : `registry ${JSON.stringify(fields.registry)} is not ${vendor.title}`}`,
      });
    }
  }
  return warnings;
}

function prefixed(prefix: string, issue: ValidationIssue): ValidationIssue {
  return { ...issue, path: joinPaths(prefix, issue.path) };
}

/** zod's issue, reworded: the field as written, the value given and what was expected. */
function toValidationIssue(issue: z.core.$ZodIssue, written: ReadonlyMap<string, string>): ValidationIssue {
  const path = formatPath(issue.path as PathSegments, written);
  const input = (issue as { input?: unknown }).input;
  const hint = (issue as { params?: { hint?: string } }).params?.hint;
  const withHint = (message: string, fallback: string): ValidationIssue => ({ path, message, hint: hint ?? fallback });
  switch (issue.code) {
    case "invalid_type":
      if (input === undefined) return withHint(`required: ${requiredHint(path)}`, `add ${path} to the spec`);
      return withHint(customOr(issue.message, `expected ${typeWords(issue.expected)}, got ${describeValue(input)}`), `write ${path} as ${typeExample(issue.expected)}`);
    case "invalid_value": {
      const values = issue.values.map((v) => JSON.stringify(v));
      const suggestion = typeof input === "string" ? didYouMean(input, issue.values.map(String)) : "";
      return withHint(customOr(issue.message, `${describeValue(input)} is not one of ${values.join(", ")}${suggestion}`), `use one of ${values.join(", ")}`);
    }
    case "too_small":
      if (issue.origin === "string") return withHint("must not be empty", `give ${path} a value, or leave the field out`);
      if (issue.origin === "array") return withHint(`needs at least ${String(issue.minimum)} item(s)`, `add an item to ${path}, or leave the field out`);
      return withHint(`${describeValue(input)} is too small: the minimum is ${String(issue.minimum)}`, `use ${String(issue.minimum)} or more`);
    default:
      return { path, message: issue.message, ...(hint !== undefined ? { hint } : {}) };
  }
}

/** How to write a value of a type in YAML, for hints. */
function typeExample(expected: string): string {
  const example: Record<string, string> = { array: ", e.g. [a, b]", object: ", e.g. {KEY: value}", record: ", e.g. {KEY: value}", string: ' (quote it, e.g. "value")' };
  return `${typeWords(expected)}${example[expected] ?? ""}`;
}

/** zod's own wording ("Invalid input: ...", "Invalid option: ..."), replaced by ours; a schema's custom message is kept. */
const DEFAULT_MESSAGE = /^Invalid (?:input|option)\b/;

function customOr(message: string, fallback: string): string {
  return DEFAULT_MESSAGE.test(message) ? fallback : message;
}

function requiredHint(path: string): string {
  if (path === "name") return 'the image name, e.g. name: my-app (the repository in the registry)';
  return "this field must be given";
}

function typeWords(expected: string): string {
  switch (expected) {
    case "array":
      return "a list";
    case "object":
    case "record":
      return "a mapping";
    case "boolean":
      return "true or false";
    default:
      return `a ${expected}`;
  }
}

/** A short description of a value for messages: `"abc"`, `5`, `a list`, `a mapping`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}
