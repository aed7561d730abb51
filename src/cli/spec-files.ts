// Spec files as the commands take them: paths or globs (quoted globs are expanded here, so
// `imagespec build 'specs/*.yaml'` works in any shell), and the defaults a run applies to every
// spec: --registry for specs that name none, --platform for all.
import { Option, type Command } from "commander";
import { existsSync } from "node:fs";
import { glob, isDynamicPattern } from "tinyglobby";
import { ImagespecError } from "../errors.js";
import { loadSpecs, type LoadedSpec } from "../spec/index.js";

export interface SpecDefaultFlags {
  registry?: string;
  platform?: string;
}

export function addSpecDefaultOptions(command: Command): Command {
  return command
    .addOption(new Option("--registry <host[/prefix]>", "registry for the specs that name none (env IMAGESPEC_REGISTRY)"))
    .addOption(new Option("--platform <platforms>", "build for these platforms instead of each spec's, e.g. linux/amd64,linux/arm64 (env IMAGESPEC_PLATFORM)"));
}

/** The files the arguments name: a glob that matches nothing is an error, as is a missing file. */
export async function expandSpecArguments(args: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const arg of args) {
    if (existsSync(arg) || !isDynamicPattern(arg)) {
      files.push(arg);
      continue;
    }
    const matches = (await glob(arg, { onlyFiles: true, expandDirectories: false })).sort();
    if (matches.length === 0) {
      throw new ImagespecError("INVALID_ARGUMENT", `${JSON.stringify(arg)} matches no file`, { hint: "check the pattern; it is matched from the current folder, e.g. 'specs/*.yaml'" });
    }
    files.push(...matches);
  }
  // A file named twice (a glob and a path) is loaded once.
  return [...new Set(files)];
}

/** Loads every spec of the files with the run's defaults applied. */
export async function loadSpecFiles(args: readonly string[], flags: SpecDefaultFlags): Promise<(LoadedSpec & { file: string })[]> {
  const files = await expandSpecArguments(args);
  const loaded = await Promise.all(files.map(async (file) => (await loadSpecs(file)).map((l) => ({ ...l, file }))));
  return loaded.flat().map((l) => ({ ...l, spec: applySpecDefaults(l.spec, flags) }));
}

export function applySpecDefaults<T extends { registry: string | undefined; withRegistry(r: string): T; withPlatform(p: string): T }>(spec: T, flags: SpecDefaultFlags): T {
  let out = spec;
  if (flags.registry !== undefined && out.registry === undefined) out = out.withRegistry(flags.registry);
  if (flags.platform !== undefined) out = out.withPlatform(flags.platform);
  return out;
}
