// Spec files as data: YAML or JSON text to a plain value, or a SpecFileError naming the file and
// what is wrong with it. Hostile input stays a clean error: YAML aliases that expand too much,
// nesting deeper than any spec needs, and duplicate keys (which JSON.parse would silently resolve
// to the last one, so the file would not mean what it seems to say).
import { ImagespecError } from "../errors.js";

/** A spec file that cannot be read or parsed at all (as opposed to a spec with invalid fields). */
export class SpecFileError extends ImagespecError {
  constructor(path: string, problem: string, hint: string, cause?: unknown) {
    super("INVALID_SPEC_FILE", `${path}: ${problem}`, { hint, cause });
  }
}

/** Deeper than any spec (the deepest field, an ECR lifecycle rule, is 5 levels) and far from the stack's limit. */
export const MAX_SPEC_DEPTH = 64;
/** YAML aliases resolved per document: enough for anchors reused on purpose, too few for a "billion laughs". */
const MAX_ALIAS_COUNT = 100;

export function parseJsonDocument(path: string, text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    if (error instanceof RangeError) throw tooDeep(path, error);
    throw new SpecFileError(path, `not valid JSON: ${(error as Error).message}`, "check the syntax near the position given", error);
  }
  checkDepth(path, value);
  const duplicate = findDuplicateJsonKey(text);
  if (duplicate) {
    throw new SpecFileError(path, `key ${JSON.stringify(duplicate.key)} appears twice in the same object (at ${duplicate.where})`, "keep one of them; JSON readers disagree on which one wins");
  }
  return value;
}

/** Parses a YAML spec file; the yaml package is loaded on the first one (a JSON spec never needs it). */
export async function parseYamlDocument(path: string, text: string): Promise<unknown> {
  const { parseAllDocuments } = await import("./yaml.js");
  let value: unknown;
  try {
    const documents = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
    if (!Array.isArray(documents)) return {}; // an empty file: reported as missing fields
    if (documents.length > 1) {
      throw new SpecFileError(path, `holds ${documents.length} YAML documents; a spec file holds one`, "put several specs under specs: in one document");
    }
    const document = documents[0];
    if (!document) return undefined;
    const error = document.errors[0];
    if (error) {
      if (error.code === "RESOURCE_EXHAUSTION" || /call stack/i.test(error.message)) throw tooDeep(path, error);
      throw new SpecFileError(path, `not valid YAML: ${error.message}`, "check the indentation and quoting near the line given", error);
    }
    value = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (error) {
    if (error instanceof SpecFileError) throw error;
    if (error instanceof RangeError) throw tooDeep(path, error);
    // yaml throws a ReferenceError when aliases expand past maxAliasCount.
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      throw new SpecFileError(path, `its YAML aliases (*name) expand to more than ${MAX_ALIAS_COUNT} copies`, "write the repeated values out, or reuse fewer anchors", error);
    }
    throw new SpecFileError(path, `cannot be read as YAML: ${(error as Error).message}`, "check the file's syntax", error);
  }
  checkDepth(path, value);
  return value;
}

function tooDeep(path: string, cause: unknown): SpecFileError {
  return new SpecFileError(path, `is nested more than ${MAX_SPEC_DEPTH} levels deep`, "a spec is a mapping of fields a few levels deep; check for runaway brackets or indentation", cause);
}

/** Walks without recursion, so a deep value fails here with a clear message instead of overflowing the stack later. */
function checkDepth(path: string, value: unknown): void {
  const pending: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (typeof item.value !== "object" || item.value === null) continue;
    if (item.depth >= MAX_SPEC_DEPTH) throw tooDeep(path, undefined);
    for (const child of Object.values(item.value)) pending.push({ value: child, depth: item.depth + 1 });
  }
}

/**
 * The first key that appears twice in one object of valid JSON text, with its line and column.
 * A scan over the tokens (no recursion): keys are compared after unescaping, as JSON.parse sees them.
 */
export function findDuplicateJsonKey(text: string): { key: string; where: string } | undefined {
  // One frame per open object (its keys) or array (undefined).
  const frames: (Set<string> | undefined)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{") {
      frames.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      frames.push(undefined);
      expectKey = false;
    } else if (c === "}" || c === "]") {
      frames.pop();
      expectKey = false;
    } else if (c === ",") {
      expectKey = frames.at(-1) !== undefined;
    } else if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      if (!expectKey) continue;
      expectKey = false;
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      const keys = frames.at(-1);
      if (keys?.has(key)) return { key, where: lineAndColumn(text, start) };
      keys?.add(key);
    }
  }
  return undefined;
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return `line ${line}, column ${offset - before.lastIndexOf("\n")}`;
}
