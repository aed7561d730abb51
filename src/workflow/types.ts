// Flyte's types as TypeScript values: what a task or workflow port carries. Each type knows how it
// reads in messages, how it compares for wiring checks, and how a value of it becomes a Flyte
// Literal (defaults, fixed launch plan inputs, constants bound to a node).
import { WorkflowError } from "./errors.js";

export type SimpleName = "integer" | "float" | "string" | "boolean" | "datetime" | "duration";

export type FlyteType =
  | { readonly kind: "simple"; readonly simple: SimpleName }
  | { readonly kind: "blob"; readonly dimensionality: "single" | "multipart"; readonly format: string }
  | { readonly kind: "structuredDataset"; readonly format: string }
  | { readonly kind: "list"; readonly of: FlyteType }
  | { readonly kind: "map"; readonly of: FlyteType };

/** A port as declared: a type, or a type with a default value and a description. */
export type PortDeclaration = FlyteType | { readonly type: FlyteType; readonly default?: unknown; readonly description?: string };

/** A port after declaration: type, whether it has a default, and the default. */
export interface Port {
  readonly type: FlyteType;
  readonly hasDefault: boolean;
  readonly default?: unknown;
  readonly description?: string;
}

const simple = (name: SimpleName): FlyteType => ({ kind: "simple", simple: name });

/** The types a port can have. */
export const t = {
  integer: simple("integer"),
  float: simple("float"),
  string: simple("string"),
  boolean: simple("boolean"),
  datetime: simple("datetime"),
  duration: simple("duration"),
  /** A single file (FlyteFile); format is free text like "csv", "" for any. */
  file: (format = ""): FlyteType => ({ kind: "blob", dimensionality: "single", format }),
  /** A directory (FlyteDirectory). */
  directory: (format = ""): FlyteType => ({ kind: "blob", dimensionality: "multipart", format }),
  /** A structured dataset (tabular data); format "" (any) by default, as flytekit declares it. */
  structuredDataset: (format = ""): FlyteType => ({ kind: "structuredDataset", format }),
  list: (of: FlyteType): FlyteType => ({ kind: "list", of }),
  map: (of: FlyteType): FlyteType => ({ kind: "map", of }),
} as const;

export function isFlyteType(value: unknown): value is FlyteType {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  switch (v.kind) {
    case "simple":
      return ["integer", "float", "string", "boolean", "datetime", "duration"].includes(v.simple as string);
    case "blob":
      return (v.dimensionality === "single" || v.dimensionality === "multipart") && typeof v.format === "string";
    case "structuredDataset":
      return typeof v.format === "string";
    case "list":
    case "map":
      return isFlyteType(v.of);
    default:
      return false;
  }
}

/** How a type reads in messages: integer, list<string>, file(csv), map<float>. */
export function describeType(type: FlyteType): string {
  switch (type.kind) {
    case "simple":
      return type.simple;
    case "blob": {
      const name = type.dimensionality === "single" ? "file" : "directory";
      return type.format === "" ? name : `${name}(${type.format})`;
    }
    case "structuredDataset":
      return type.format === "" ? "structuredDataset" : `structuredDataset(${type.format})`;
    case "list":
      return `list<${describeType(type.of)}>`;
    case "map":
      return `map<${describeType(type.of)}>`;
  }
}

/**
 * Whether a value of `from` can be bound to a port of type `to`. Types must match; a file,
 * directory or dataset format of "" matches any format (as in Flyte's type checker).
 */
export function assignable(from: FlyteType, to: FlyteType): boolean {
  if (from.kind !== to.kind) return false;
  switch (to.kind) {
    case "simple":
      return from.kind === "simple" && from.simple === to.simple;
    case "blob":
      return from.kind === "blob" && from.dimensionality === to.dimensionality && (from.format === to.format || from.format === "" || to.format === "");
    case "structuredDataset":
      return from.kind === "structuredDataset" && (from.format === to.format || from.format === "" || to.format === "");
    case "list":
    case "map":
      return (from.kind === "list" || from.kind === "map") && assignable(from.of, to.of);
  }
}

/** A declared port, checked; `where` names it in errors (`task "x" input "n"`). */
export function port(declaration: unknown, where: string): Port {
  if (isFlyteType(declaration)) return { type: declaration, hasDefault: false };
  if (typeof declaration === "object" && declaration !== null && isFlyteType((declaration as { type?: unknown }).type)) {
    const d = declaration as { type: FlyteType; default?: unknown; description?: unknown };
    const hasDefault = "default" in d && d.default !== undefined;
    if (hasDefault) checkValue(d.default, d.type, `${where} default`);
    if (d.description !== undefined && typeof d.description !== "string") throw new WorkflowError("INVALID_WORKFLOW", `${where}: description must be a string`, "write description: \"...\"");
    return { type: d.type, hasDefault, ...(hasDefault ? { default: d.default } : {}), ...(typeof d.description === "string" ? { description: d.description } : {}) };
  }
  throw new WorkflowError("INVALID_WORKFLOW", `${where}: expected a type such as t.integer or { type: t.integer, default: 1 }`, "import { t } from imagespec and declare ports with its types");
}

export function ports(declarations: unknown, where: string): Record<string, Port> {
  if (declarations === undefined) return {};
  if (typeof declarations !== "object" || declarations === null || Array.isArray(declarations)) {
    throw new WorkflowError("INVALID_WORKFLOW", `${where}: expected a mapping of port names to types`, "write e.g. inputs: { n: t.integer }");
  }
  const out: Record<string, Port> = {};
  for (const [name, declaration] of Object.entries(declarations)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new WorkflowError("INVALID_WORKFLOW", `${where}: port name ${JSON.stringify(name)} is not an identifier`, "use letters, digits and _ (Python needs the names as keyword arguments)");
    out[name] = port(declaration, `${where} "${name}"`);
  }
  return out;
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;

/** Seconds from a number of seconds or a string like "1h30m", "45s", "500ms". */
export function parseDuration(value: unknown, where: string): number {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === "string" && /^(\d+(?:\.\d+)?(ms|h|m|s))+$/.test(value.trim())) {
    let seconds = 0;
    for (const [, n, unit] of value.trim().matchAll(DURATION_PART)) seconds += Number(n) * (unit === "h" ? 3600 : unit === "m" ? 60 : unit === "ms" ? 0.001 : 1);
    return seconds;
  }
  throw new WorkflowError("INVALID_WORKFLOW", `${where}: expected a duration like "1h30m", "45s" or a number of seconds, got ${JSON.stringify(value)}`, "write e.g. timeout: \"30m\"");
}

function show(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Date) return value.toISOString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Throws when `value` is not a value of `type`. */
export function checkValue(value: unknown, type: FlyteType, where: string): void {
  const bad = (expected: string): never => {
    throw new WorkflowError("INVALID_WORKFLOW_TYPES", `${where}: expected ${expected} (${describeType(type)}), got ${show(value)}`, `give a value of type ${describeType(type)}`);
  };
  switch (type.kind) {
    case "simple":
      switch (type.simple) {
        case "integer":
          if (!((typeof value === "bigint" && value >= -(2n ** 63n) && value < 2n ** 63n) || (typeof value === "number" && Number.isSafeInteger(value)))) bad("a whole number (64-bit)");
          return;
        case "float":
          if (typeof value !== "number" || !Number.isFinite(value)) bad("a number");
          return;
        case "string":
          if (typeof value !== "string") bad("a string");
          return;
        case "boolean":
          if (typeof value !== "boolean") bad("true or false");
          return;
        case "datetime":
          if (!(value instanceof Date && !Number.isNaN(value.getTime())) && !(typeof value === "string" && !Number.isNaN(Date.parse(value)))) bad("a Date or an ISO 8601 time");
          return;
        case "duration":
          try {
            parseDuration(value, where);
          } catch {
            bad("a duration");
          }
          return;
      }
      return;
    case "blob":
    case "structuredDataset":
      if (typeof value !== "string" || value === "") bad("a URI");
      return;
    case "list":
      if (!Array.isArray(value)) bad("an array");
      (value as unknown[]).forEach((item, i) => checkValue(item, type.of, `${where}[${i}]`));
      return;
    case "map":
      if (typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Date) bad("an object with string keys");
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) checkValue(item, type.of, `${where}.${key}`);
      return;
  }
}
