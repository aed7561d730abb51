// `imagespec dockerfile SPEC_FILE`: prints the Dockerfile a Dockerfile builder (docker, podman,
// buildah, buildkit) would run for the spec; with --context DIR it also writes the build context
// there, ready for `docker build DIR` or `buildah build DIR`.
import type { Command } from "commander";
import { specDockerfile, writeContextInto } from "../../build/context.js";
import { ImagespecError } from "../../errors.js";
import { DOCKERFILE_BUILDERS, loadSpecs, type LoadedSpec } from "../../spec/index.js";
import { reportError } from "../output.js";
import type { RegisterCommand } from "./index.js";

interface DockerfileFlags {
  key?: string;
  context?: string;
}

export const registerDockerfileCommand: RegisterCommand = (program: Command) => {
  program
    .command("dockerfile")
    .description(`print the Dockerfile a Dockerfile builder (${DOCKERFILE_BUILDERS.join(", ")}) would run for the spec`)
    .argument("<spec-file>", "a spec file: .yaml, .yml, .json, or a .ts/.js module exporting ImageSpec values")
    .option("-k, --key <key>", "the spec to print when the file holds several (its specs: key or export name)")
    .option("--context <dir>", "also write the build context (Dockerfile, requirements, the spec's files) into this folder")
    .addHelpText(
      "after",
      `
The build context holds only what the Dockerfile uses: python/ (the requirements the install step
reads, index options included) and files/ (the spec's copy and sourceRoot files, laid out by their
path in the image).

Examples:
  imagespec dockerfile imagespec.yaml
  imagespec dockerfile --context build/ imagespec.yaml && buildah build build/`,
    )
    .action(async (file: string, flags: DockerfileFlags) => {
      process.exitCode = await runDockerfile(file, flags);
    });
};

async function runDockerfile(file: string, flags: DockerfileFlags): Promise<number> {
  try {
    const specs = await loadSpecs(file);
    let chosen: LoadedSpec | undefined;
    if (flags.key !== undefined) {
      chosen = specs.find((s) => s.key === flags.key);
      if (!chosen) {
        throw new ImagespecError("INVALID_KEY", `${file} has no spec ${JSON.stringify(flags.key)}`, { hint: `the file holds: ${specs.map((s) => s.key).join(", ")}` });
      }
    } else if (specs.length === 1) {
      chosen = specs[0];
    } else {
      throw new ImagespecError("INVALID_KEY", `${file} holds ${specs.length} specs; choose one with --key`, { hint: `the file holds: ${specs.map((s) => s.key).join(", ")}` });
    }
    const generated = await specDockerfile(chosen!.spec);
    if (flags.context !== undefined) {
      const context = await writeContextInto(generated, flags.context);
      process.stderr.write(`wrote the build context to ${context.dir}\n`);
    }
    process.stdout.write(generated.dockerfile);
    return 0;
  } catch (error) {
    return reportError(error);
  }
}
