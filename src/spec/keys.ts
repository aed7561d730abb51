// Field names as users write them: flytekit's snake_case (`base_image`) becomes the schema's
// camelCase (`baseImage`), and an unknown name is reported with the nearest known one. The known
// names come from walking the zod schema, so a field added there is accepted here with no other edit.
import type { z } from "zod";
import type { ValidationIssue } from "../errors.js";
import { closest } from "./suggest.js";

/** A field path as segments: object keys and list indexes. */
export type PathSegments = readonly (string | number)[];

/** flytekit fields we deliberately do not take, and what to do instead. */
const FLYTEKIT_ONLY: Readonly<Record<string, string>> = {
  pythonExec: "imagespec finds Python in the base image; choose the interpreter with pythonVersion or the base image",
  pipSecretMounts: "secrets are not mounted into builds; use an index URL the builder can reach (pipIndex)",
  registryConfig: "registry credentials come from the Docker config, a credential helper or the AWS credential chain, not from the spec",
  sourceCopyMode: "use sourceRoot (copied to workdir) and copy; .gitignore and .dockerignore decide what is left out",
  runtimePackages:
    "flytekit installs runtime_packages with pip each time the container starts; imagespec installs every package when the image is built, so the tag says what is in it: put them in packages (or requirements)",
  builderConfig: "the uv and micromamba images are builderOptions.uvImage and builderOptions.micromambaImage here (uv_image and micromamba_image are accepted there too)",
};

export function snakeToCamel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function camelToSnake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export interface NormalisedKeys {
  value: unknown;
  issues: ValidationIssue[];
  /** For a camelCase path (joined with "\u0000"), the key the user wrote when it differs. */
  written: Map<string, string>;
}

/** Renames snake_case keys of every strict object in the schema and reports unknown keys. */
export function normaliseKeys(value: unknown, schema: z.ZodType): NormalisedKeys {
  const result: NormalisedKeys = { value: undefined, issues: [], written: new Map() };
  result.value = walk(value, schema, [], result);
  return result;
}

/** Formats a path the way the user wrote it: `apt_packages[2]`, `ecr.allowPullFrom[0]`. */
export function formatPath(path: PathSegments, written?: ReadonlyMap<string, string>): string {
  let out = "";
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    out = appendSegment(out, typeof segment === "number" ? segment : (written?.get(path.slice(0, i + 1).join("\u0000")) ?? segment));
  }
  return out;
}

/** `a` + `b` -> `a.b`; `a` + 2 -> `a[2]`; keys that are not identifiers are quoted: `env["A=B"]`. */
export function appendSegment(path: string, segment: string | number): string {
  if (typeof segment === "number") return `${path}[${segment}]`;
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) return `${path}[${JSON.stringify(segment)}]`;
  return path === "" ? segment : `${path}.${segment}`;
}

/** Joins two formatted paths: `baseImage` + `packages[0]` -> `baseImage.packages[0]`. */
export function joinPaths(prefix: string, path: string): string {
  if (prefix === "" || path === "") return prefix + path;
  return path.startsWith("[") ? `${prefix}${path}` : `${prefix}.${path}`;
}

function walk(value: unknown, schema: z.ZodType, path: PathSegments, result: NormalisedKeys): unknown {
  const shape = strictShape(schema, value);
  if (shape && isPlainObject(value)) return walkObject(value, shape, path, result);
  const element = arrayElement(schema);
  if (element && Array.isArray(value)) return value.map((item, index) => walk(item, element, [...path, index], result));
  return value;
}

function walkObject(value: Record<string, unknown>, shape: Record<string, z.ZodType>, path: PathSegments, result: NormalisedKeys): Record<string, unknown> {
  const known = Object.keys(shape);
  const out: Record<string, unknown> = {};
  const writtenAs = new Map<string, string>();
  for (const [key, child] of Object.entries(value)) {
    // Own keys only: `constructor` or `toString` is an unknown field, not a member of Object.prototype.
    const field = Object.hasOwn(shape, key) ? key : Object.hasOwn(shape, snakeToCamel(key)) ? snakeToCamel(key) : undefined;
    // The parent as the user wrote it, then this key exactly as written.
    const where = appendSegment(formatPath(path, result.written), key);
    if (field === undefined) {
      result.issues.push(unknownField(key, known, where, path.length === 0));
      continue;
    }
    const earlier = writtenAs.get(field);
    if (earlier !== undefined) {
      result.issues.push({ path: where, message: `${JSON.stringify(key)} and ${JSON.stringify(earlier)} are the same field, given twice`, hint: "keep one of them" });
      continue;
    }
    writtenAs.set(field, key);
    if (field !== key) result.written.set([...path, field].join("\u0000"), key);
    out[field] = walk(child, shape[field]!, [...path, field], result);
  }
  return out;
}

function unknownField(key: string, known: readonly string[], where: string, topLevel: boolean): ValidationIssue {
  const camel = snakeToCamel(key);
  // flytekit's fields are spec fields: inside ecr or builderOptions the same word means nothing.
  const flytekit = topLevel && Object.hasOwn(FLYTEKIT_ONLY, camel) ? FLYTEKIT_ONLY[camel] : undefined;
  if (flytekit !== undefined) {
    return { path: where, message: `${JSON.stringify(key)} is a flytekit field that imagespec does not support: ${flytekit}`, hint: "docs/spec.md says, for every flytekit field, what imagespec does with it" };
  }
  // Suggest in the user's own style: snake_case for snake_case typos.
  const suggestion = closest(camel, known);
  const styled = suggestion !== undefined && key.includes("_") ? camelToSnake(suggestion) : suggestion;
  if (styled !== undefined) {
    return { path: where, message: `unknown field ${JSON.stringify(key)}; did you mean ${JSON.stringify(styled)}?`, hint: "docs/spec.md lists every field" };
  }
  return { path: where, message: `unknown field ${JSON.stringify(key)}`, hint: `known fields here: ${known.join(", ")} (docs/spec.md)` };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// zod's schema introspection: `def.type` names the kind, wrappers expose what they wrap.
interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  options?: z.ZodType[];
  element?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  catchall?: z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { def: Def }).def;
}

/** Strips optional/default/prefault/nullable wrappers and the input side of transforms. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (def.innerType && ["optional", "default", "prefault", "nullable", "readonly", "catch"].includes(def.type)) current = def.innerType;
    else if (def.type === "pipe" && def.in) current = def.in;
    else return current;
  }
}

/** The shape of a strict object schema that `value` would be parsed with; loose objects and records have none. */
function strictShape(schema: z.ZodType, value: unknown): Record<string, z.ZodType> | undefined {
  const def = defOf(unwrap(schema));
  if (def.type === "union" && def.options && isPlainObject(value)) {
    for (const option of def.options) {
      const shape = strictShape(option, value);
      if (shape) return shape;
    }
    return undefined;
  }
  const strict = def.type === "object" && def.catchall !== undefined && defOf(def.catchall).type === "never";
  return strict ? def.shape : undefined;
}

function arrayElement(schema: z.ZodType): z.ZodType | undefined {
  const def = defOf(unwrap(schema));
  if (def.type === "array") return def.element;
  if (def.type === "union" && def.options) return def.options.map(arrayElement).find((e) => e !== undefined);
  return undefined;
}
