// The folders of src/ form one chain (docs: ../shared/DESIGN.md "Layout"): a folder imports only
// from folders to its left, so there is no import cycle between folders, and nothing imports cli/.
// Type-only imports count: a type is a dependency as much as a value is.
//
// The chain is DESIGN.md's, with reference/ and oci/ before spec/: the spec checks image
// references and platforms, and neither reference/ nor oci/ knows the spec. Vendors plug in from
// the right: ecr/ implements spec/'s and registry/'s vendor interfaces; session/ wires them.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "..", "src");

const CHAIN = ["reference", "oci", "spec", "layer", "registry", "ecr", "python", "apt", "build", "workflow", "session", "cli"] as const;

/**
 * Imports that break the chain today and belong to work in progress elsewhere: each names the
 * importing file and the folder it imports. Empty is the goal; an entry that no longer occurs
 * fails the test too, so the list only shrinks.
 */
const KNOWN_VIOLATIONS: readonly string[] = [];

interface Import {
  readonly file: string;
  readonly target: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** Relative imports and re-exports, static and dynamic, with the file they resolve to. */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const found: Import[] = [];
  const patterns = [/\bfrom\s+["'](\.{1,2}\/[^"']+)["']/g, /\bimport\s+["'](\.{1,2}\/[^"']+)["']/g, /\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g];
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern)) found.push({ file: relative(SRC, file), target: relative(SRC, resolve(dirname(file), match[1]!)) });
  }
  return found;
}

/** The folder of a path under src/, or undefined for a file at src/'s top (errors.ts, index.ts, units.ts). */
function folderOf(path: string): string | undefined {
  const parts = path.split("/");
  return parts.length > 1 ? parts[0] : undefined;
}

const imports = sourceFiles(SRC).flatMap(importsOf);

describe("architecture: the folder chain", () => {
  it("every folder of src/ has a place in the chain", () => {
    const folders = readdirSync(SRC).filter((entry) => statSync(join(SRC, entry)).isDirectory());
    assert.deepEqual(folders.filter((f) => !(CHAIN as readonly string[]).includes(f)), [], "add the new folder to CHAIN (and to DESIGN.md's layout)");
  });

  it("a folder imports only from folders to its left", () => {
    const violations = new Set<string>();
    for (const { file, target } of imports) {
      const from = folderOf(file);
      const to = folderOf(target);
      if (from === undefined || to === undefined || from === to) continue;
      const fromIndex = CHAIN.indexOf(from as (typeof CHAIN)[number]);
      const toIndex = CHAIN.indexOf(to as (typeof CHAIN)[number]);
      if (toIndex > fromIndex) violations.add(`${file} -> ${to}`);
    }
    assert.deepEqual([...violations].filter((v) => !KNOWN_VIOLATIONS.includes(v)).sort(), [], "these imports go right in the chain (or form a cycle)");
    assert.deepEqual(KNOWN_VIOLATIONS.filter((v) => !violations.has(v)), [], "fixed: remove these from KNOWN_VIOLATIONS");
  });

  it("nothing outside cli/ imports cli/", () => {
    const offenders = imports.filter(({ file, target }) => folderOf(file) !== "cli" && folderOf(target) === "cli").map(({ file }) => file);
    assert.deepEqual(offenders, []);
  });

  it("registry/ names no vendor: vendors plug in through registry/vendor.ts", () => {
    const named = sourceFiles(join(SRC, "registry")).flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .map((line, index) => ({ line, where: `${relative(SRC, file)}:${index + 1}` }))
        .filter(({ line }) => /\b(?:ecr|aws|amazon)\b/i.test(line))
        .map(({ where, line }) => `${where}: ${line.trim()}`),
    );
    assert.deepEqual(named, []);
  });
});
