// Turning user input (a parsed YAML/JSON document or an object in code) into spec fields, with every
// problem reported at once as a ValidationIssue that names the field as the user wrote it, the bad
// value and what is expected. Problems that should not stop a build (an AWS region newer than our
// table) come back as warnings for the caller to show.
import { isDeepStrictEqual } from "node:util";
import type { z } from "zod";
import type { ValidationIssue } from "../errors.js";
import { ValidationError } from "../errors.js";
import { checkEcrHost, looksLikeEcrHost } from "../ecr/host.js";
import { parseRegistryLocation } from "../reference/reference.js";
import { ImageSpec } from "./image-spec.js";
import { formatPath, joinPaths, normaliseKeys, type PathSegments } from "./keys.js";
import { ecrSchema, imageSpecSchema, isImageSpecValue, type ImageSpecFields } from "./schema.js";
import { didYouMean } from "./suggest.js";

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
  const keys = normaliseKeys(input, imageSpecSchema);
  const issues = [...keys.issues];
  const warnings: ValidationIssue[] = [];
  const value = keys.value as Record<string, unknown>;

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

  const parsed = imageSpecSchema.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    issues.push(...parsed.error.issues.map((issue) => toValidationIssue(issue, keys.written)));
    return { issues, warnings };
  }
  if (issues.length > 0) return { issues, warnings };
  warnings.push(...registryWarnings(parsed.data, keys.written));
  return { fields: parsed.data, issues, warnings };
}

const DEFAULT_ECR = ecrSchema.parse({});

function registryWarnings(fields: ImageSpecFields, written: ReadonlyMap<string, string>): ValidationIssue[] {
  const warnings: ValidationIssue[] = [];
  const host = fields.registry === undefined ? undefined : parseRegistryLocation(fields.registry).host;
  if (host !== undefined) {
    const ecr = checkEcrHost(host);
    if (ecr.kind === "ecr" && ecr.warning !== undefined) warnings.push({ path: formatPath(["registry"], written), message: ecr.warning });
  }
  // Compared with the defaults rather than checked for presence: a rebuilt spec always carries them.
  const ecrSet = !isDeepStrictEqual(fields.ecr, DEFAULT_ECR);
  if (ecrSet && (host === undefined || !looksLikeEcrHost(host))) {
    warnings.push({
      path: formatPath(["ecr"], written),
      message: `the ecr settings are ignored: ${host === undefined ? "no registry is set" : `registry ${JSON.stringify(fields.registry)} is not Amazon ECR`}`,
    });
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
      return withHint(`${describeValue(input)} is not one of ${values.join(", ")}${suggestion}`, `use one of ${values.join(", ")}`);
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

const DEFAULT_MESSAGE = /^Invalid input/;

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
