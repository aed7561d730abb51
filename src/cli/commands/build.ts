// `imagespec build SPEC_FILE...`: builds every spec in the files (each image once, in parallel),
// skipping those whose tag already exists. Progress goes to stderr as timestamped lines; stdout
// gets one `name@digest` line per image (or one JSON object per image with --json).
import { InvalidArgumentError, type Command } from "commander";
import { writeFile } from "node:fs/promises";
import { defaultCacheDir } from "../../build/cache-dir.js";
import { dockerfileSettings } from "../../build/dockerfile.js";
import { ImageBuilder } from "../../build/image-builder.js";
import { describePlan, planBuild } from "../../build/plan.js";
import type { EnsureResult } from "../../ecr/index.js";
import type { Compression } from "../../layer/index.js";
import { COMPRESSION_LEVELS, COMPRESSION_LEVELS_TEXT } from "../../layer/levels.js";
import { checkLayoutDirectory, isLayoutReference, parseLayoutReference } from "../../oci/index.js";
import { parseRegistryLocation } from "../../reference/index.js";
import type { LoadedSpec } from "../../spec/index.js";
import { addSpecDefaultOptions, loadSpecFiles, type SpecDefaultFlags } from "../spec-files.js";
import { reportError } from "../output.js";
import { createProgress, PROGRESS_MODES, type ProgressMode } from "../progress.js";
import type { BuildResultJson } from "../results.js";
import type { RegisterCommand } from "./index.js";
import { registryOptionsFromFlags, addRegistryOptions, ecrOptionsFromFlags, type RegistryFlags } from "../registry-options.js";
import { createSession, type Session } from "../../session/index.js";
import { BUILDERS, FLYTEKIT_BUILDERS, type Builder } from "../../spec/index.js";
import { parseSizeOrNever, SIZE_OR_NEVER } from "../../units.js";

interface BuildFlags extends RegistryFlags, SpecDefaultFlags {
  dryRun?: boolean;
  output?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
  compression?: Compression;
  compressionLevel?: number;
  uploadOnlyAbove?: number | "never";
  cacheDir?: string;
  metadataFile?: string;
  builder?: string;
  buildkitAddr?: string;
  progress?: string;
}

export const registerBuildCommand: RegisterCommand = (program: Command) => {
  const command = program
    .command("build")
    .description("build the images of the specs in the files and push them (skipped when the tag already exists)")
    .argument("<spec-files...>", "spec files or globs: .yaml, .yml, .json, or .ts/.js modules exporting ImageSpec values")
    .option("--dry-run", "print the plan of each image and build nothing")
    .option("-o, --output <oci:DIR[:TAG]>", "write an OCI image layout instead of pushing to the spec's registry")
    .option("-f, --force", "build and push even when the tag already exists")
    .option("--json", "print one JSON result per image on stdout")
    .option("-q, --quiet", "print only the image names")
    .option("--compression <gzip|zstd>", "layer compression (default gzip)")
    .option("--compression-level <n>", `compression level: ${COMPRESSION_LEVELS_TEXT}`, compressionLevel)
    .option("--upload-only-above <size>", "a files layer this big bound for a registry is uploaded as it is compressed, with no copy in the cache dir (default 128MiB; never: always keep one)", sizeOrNever)
    .option("--cache-dir <dir>", "where reusable build data is kept (default $XDG_CACHE_HOME/imagespec)")
    .option("--metadata-file <file>", "also write the results as a JSON array to this file")
    .option("--builder <name>", `override every spec's builder: ${BUILDERS.join(", ")}`)
    .option("--buildkit-addr <address>", "BuildKit daemon for builder buildkit (buildctl --addr), e.g. tcp://buildkitd:1234")
    .option("--progress <mode>", "auto (a live view on a terminal, plain lines otherwise), tty or plain", "auto");
  addSpecDefaultOptions(command);
  addRegistryOptions(command);
  command.addHelpText(
    "after",
    `
Specs with no registry are written to the OCI layout .imagespec/images (read it with
skopeo: oci:.imagespec/images:NAME:TAG).

Specs the native builder cannot build (commands, conda packages) go to a Dockerfile
builder: under builder auto the first of docker, podman, buildah, buildkit that works.

Examples:
  imagespec build imagespec.yaml
  imagespec build --dry-run imagespec.yaml
  imagespec build --builder buildah imagespec.yaml
  imagespec build -o oci:./out imagespec.yaml
  imagespec build --json specs/*.yaml`,
  );
  command.action(async (files: string[], flags: BuildFlags) => {
    process.exitCode = await runBuild(files, flags);
  });
};

function sizeOrNever(value: string): number | "never" {
  const size = parseSizeOrNever(value);
  if (size === undefined) throw new InvalidArgumentError(`expected ${SIZE_OR_NEVER}`);
  return size;
}

function compressionLevel(value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new InvalidArgumentError(`expected a whole number: ${COMPRESSION_LEVELS_TEXT}`);
  return Number(value);
}

async function runBuild(files: string[], flags: BuildFlags): Promise<number> {
  if (flags.compression !== undefined && !["gzip", "zstd"].includes(flags.compression)) {
    process.stderr.write(`error: --compression ${JSON.stringify(flags.compression)} is not supported\nhint: use gzip or zstd\n`);
    return 2;
  }
  if (flags.compressionLevel !== undefined) {
    const { min, max } = COMPRESSION_LEVELS[flags.compression === "zstd" ? "zstd" : "gzip"];
    if (flags.compressionLevel < min || flags.compressionLevel > max) {
      process.stderr.write(`error: --compression-level ${flags.compressionLevel} is out of range for ${flags.compression ?? "gzip"}\nhint: use ${min}-${max} for ${flags.compression ?? "gzip"}\n`);
      return 2;
    }
  }
  if (flags.progress !== undefined && !(PROGRESS_MODES as readonly string[]).includes(flags.progress)) {
    process.stderr.write(`error: --progress ${JSON.stringify(flags.progress)} is not a progress mode\nhint: use one of ${PROGRESS_MODES.join(", ")}\n`);
    return 2;
  }
  if (flags.builder !== undefined && !(BUILDERS as readonly string[]).includes(flags.builder)) {
    const flytekit = Object.hasOwn(FLYTEKIT_BUILDERS, flags.builder) ? `${FLYTEKIT_BUILDERS[flags.builder]}; ` : "";
    process.stderr.write(`error: --builder ${JSON.stringify(flags.builder)} is not a builder\nhint: ${flytekit}use one of ${BUILDERS.join(", ")}\n`);
    return 2;
  }
  let specs: LoadedSpec[];
  try {
    specs = await loadSpecFiles(files, flags);
    // An output that cannot be a layout (oci:/etc/passwd) is refused before anything is built.
    if (flags.output !== undefined && isLayoutReference(flags.output) && !flags.dryRun) await checkLayoutDirectory(parseLayoutReference(flags.output).dir);
  } catch (error) {
    return reportError(error);
  }
  if (flags.dryRun) return dryRun(specs, flags);

  const quiet = flags.quiet === true || flags.json === true;
  // --verbose writes HTTP exchanges straight to stderr, which a live view would draw over.
  const progress = quiet ? undefined : createProgress(flags.verbose ? "plain" : ((flags.progress ?? "auto") as ProgressMode));
  let session: Session;
  try {
    session = createSession({
      // --username/--password-stdin go to the specs' target registries only, never to a base's.
      registry: await registryOptionsFromFlags(flags, { credentialHosts: [...new Set(specs.flatMap(({ spec }) => (spec.registry !== undefined ? [parseRegistryLocation(spec.registry).host] : [])))] }),
      ecr: ecrOptionsFromFlags(flags, {
        // Repository writes (creation, pull grant, lifecycle) are worth a line in the log.
        onCall: (call) => {
          if (call.sent && ["CreateRepository", "SetRepositoryPolicy", "PutLifecyclePolicy", "PutRepositoryCatalogData"].includes(call.operation)) {
            progress?.note(`${call.service} ${call.operation} ${String(call.input.repositoryName)} (${call.region})`);
          }
        },
      }),
      build: {
        onEvent: progress?.onEvent ?? (() => undefined),
        ...(flags.builder !== undefined ? { builder: flags.builder as Builder } : {}),
        ...(flags.insecureRegistry !== undefined ? { insecureRegistries: flags.insecureRegistry } : {}),
        ...(flags.buildkitAddr !== undefined ? { backends: { buildkit: { address: flags.buildkitAddr } } } : {}),
        ...(flags.output !== undefined ? { output: flags.output } : {}),
        ...(flags.force ? { force: true } : {}),
        ...(flags.compression !== undefined ? { compression: flags.compression } : {}),
        ...(flags.compressionLevel !== undefined ? { compressionLevel: flags.compressionLevel } : {}),
        ...(flags.uploadOnlyAbove !== undefined ? { uploadOnlyBytes: flags.uploadOnlyAbove === "never" ? Infinity : flags.uploadOnlyAbove } : {}),
        ...(flags.cacheDir !== undefined ? { cacheDir: flags.cacheDir } : {}),
      },
      // Each ECR repository gets its spec's settings, applied before the first push to it.
      specs: specs.map((s) => s.spec),
    });
  } catch (error) {
    progress?.end();
    return reportError(error);
  }
  const outcomes = await Promise.allSettled(
    specs.map(async ({ spec }) => {
      const started = Date.now();
      const result = await session.builder.build(spec);
      return { ...result, seconds: (Date.now() - started) / 1000 };
    }),
  );
  const ensured = await session.applyRepositorySettings();
  await session.close();
  progress?.end();

  let exitCode = 0;
  for (const outcome of ensured) {
    if (outcome.status === "rejected") exitCode = Math.max(exitCode, reportError(outcome.reason));
    else if (!quiet) printEnsured(outcome.value);
  }
  const results: BuildResultJson[] = [];
  const seen = new Set<string>();
  for (const outcome of outcomes) {
    if (outcome.status === "rejected") {
      exitCode = Math.max(exitCode, reportError(outcome.reason));
      continue;
    }
    if (seen.has(outcome.value.image)) continue;
    seen.add(outcome.value.image);
    const result = outcome.value;
    results.push(result);
    if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else if (flags.quiet) process.stdout.write(`${result.image}\n`);
    else process.stdout.write(`${result.image}@${result.digest}\n`);
  }
  if (flags.metadataFile !== undefined) await writeFile(flags.metadataFile, `${JSON.stringify(results, null, 2)}\n`);
  return exitCode;
}

/**
 * Each spec's plan with the builder the build would choose, found the same way (a Dockerfile
 * builder is looked for, not run), refusing what the build would refuse; nothing is built or pushed.
 */
async function dryRun(specs: readonly LoadedSpec[], flags: BuildFlags): Promise<number> {
  const builder = new ImageBuilder({
    ...(flags.builder !== undefined ? { builder: flags.builder as Builder } : {}),
    ...(flags.buildkitAddr !== undefined ? { backends: { buildkit: { address: flags.buildkitAddr } } } : {}),
    ...(flags.cacheDir !== undefined ? { cacheDir: flags.cacheDir } : {}),
    ...(flags.output !== undefined ? { output: flags.output } : {}),
  });
  let exitCode = 0;
  try {
    for (const { spec } of specs) {
      try {
        const plan = await planBuild(spec, { cacheDir: flags.cacheDir ?? defaultCacheDir() });
        const selection = await builder.selection(plan);
        const settings = selection.kind === "dockerfile" ? dockerfileSettings(spec) : undefined;
        process.stdout.write(`${describePlan(plan, { selection, ...(settings ? { settings } : {}) })}\n\n`);
      } catch (error) {
        exitCode = Math.max(exitCode, reportError(error));
      }
    }
  } finally {
    await builder.close();
  }
  return exitCode;
}

function printEnsured(result: EnsureResult): void {
  const parts = [`repository ${result.status}`];
  if (result.policy !== "none") parts.push(`pull grant ${result.policy}`);
  if (result.lifecycle !== "none") parts.push(`lifecycle policy ${result.lifecycle}`);
  if (result.catalogData !== undefined && result.catalogData !== "none") parts.push(`catalog data ${result.catalogData}`);
  process.stderr.write(`${new Date().toISOString()} ecr ${result.host}/${result.repository}: ${parts.join(", ")}\n`);
}
