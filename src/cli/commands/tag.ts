// `imagespec tag SPEC_FILE...`: the full image name of every spec, one per line, so scripts can do
// `docker pull "$(imagespec tag imagespec.yaml)"`. Nothing is printed unless every spec is valid.
import type { Command } from "commander";
import { defaultCacheDir, fileHashingIn } from "../../build/cache-dir.js";
import { canonicalJson, canonicalSpec, imageName, loadSpecs, type CanonicalSpec, type LoadedSpec } from "../../spec/index.js";
import { addSpecDefaultOptions, applySpecDefaults, expandSpecArguments, type SpecDefaultFlags } from "../spec-files.js";
import { reportError } from "../output.js";
import type { RegisterCommand } from "./index.js";

interface TagOptions extends SpecDefaultFlags {
  withKeys?: boolean;
  explain?: boolean;
}

interface Row {
  file: string;
  key: string;
  image: string;
  canonical?: CanonicalSpec;
}

export const registerTagCommand: RegisterCommand = (program: Command) => {
  const command = program
    .command("tag")
    .description("print the full image name (registry/name:tag) of each spec in the files, one per line")
    .argument("<spec-files...>", "spec files: .yaml, .yml, .json, or .ts/.js modules exporting ImageSpec values")
    .option("--with-keys", "print FILE<TAB>KEY<TAB>IMAGE; KEY is the specs: key or export name (\"default\" for a single spec)")
    .option("--explain", "print, as JSON, what each tag hashes (the canonical spec) instead of the names")
    .addHelpText(
      "after",
      `
Examples:
  imagespec tag imagespec.yaml
  docker pull "$(imagespec tag imagespec.yaml)"
  imagespec tag --with-keys 'specs/*.yaml'
  imagespec tag --explain imagespec.yaml`,
    );
  addSpecDefaultOptions(command).action(async (args: string[], options: TagOptions) => {
    const rows: Row[] = [];
    let exitCode = 0;
    let files: string[];
    try {
      files = await expandSpecArguments(args);
    } catch (error) {
      process.exitCode = reportError(error);
      return;
    }
    for (const file of files) {
      try {
        for (const loaded of await loadSpecs(file)) rows.push(await describe(file, { ...loaded, spec: applySpecDefaults(loaded.spec, options) }, options.explain === true));
      } catch (error) {
        exitCode = Math.max(exitCode, reportError(error));
      }
    }
    if (exitCode !== 0) {
      process.exitCode = exitCode;
      return;
    }
    process.stdout.write(render(rows, options));
  });
};

async function describe(file: string, { key, spec }: LoadedSpec, explain: boolean): Promise<Row> {
  for (const warning of spec.warnings) process.stderr.write(`warning: ${file}${key === "default" ? "" : ` (${key})`}: ${warning.path}: ${warning.message}\n`);
  const hashing = fileHashingIn(defaultCacheDir());
  const row: Row = { file, key, image: await imageName(spec, hashing) };
  if (explain) row.canonical = await canonicalSpec(spec, hashing);
  return row;
}

function render(rows: readonly Row[], options: TagOptions): string {
  if (options.explain) {
    // Re-parsing the canonical JSON keeps its sorted key order: what is shown is what is hashed.
    const explained = rows.map(({ file, key, image, canonical }) => ({ file, key, image, canonical: JSON.parse(canonicalJson(canonical ?? {})) as unknown }));
    return `${JSON.stringify(explained, null, 2)}\n`;
  }
  if (options.withKeys) return rows.map((r) => `${r.file}\t${r.key}\t${r.image}\n`).join("");
  return rows.map((r) => `${r.image}\n`).join("");
}
