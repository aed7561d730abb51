#!/usr/bin/env node
// The `imagespec` command. Thin: parses flags, calls the library, prints.
// Exit codes: 0 ok, 1 the operation failed, 2 usage error (bad flags or input).
import { Command, CommanderError } from "commander";
import { commandsFor } from "./commands/index.js";
import { reportError } from "./output.js";
import { redactSecrets } from "../reference/index.js";
import { VERSION } from "../version.js";

/** The program with the commands that `args` (the arguments after `imagespec`) need registered. */
export async function createProgram(args: readonly string[]): Promise<Command> {
  const program = new Command("imagespec")
    .description("Declarative container images for workflow tasks: ImageSpec in, OCI image out, no Docker daemon.")
    .version(VERSION, "--version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    // Commander echoes a refused flag value; a credential typed into it is not echoed.
    .configureOutput({ outputError: (text, write) => write(redactSecrets(text)) })
    .exitOverride()
    // Program options are read before the command name only: `register --version V` (flytectl's
    // spelling) reaches that command, and `tag --version` is refused, whichever commands are loaded.
    .enablePositionalOptions();
  program
    .command("version")
    .description("print the version")
    .addHelpText("after", "\nExamples:\n  imagespec version\n  imagespec --version")
    .action(() => {
      process.stdout.write(`imagespec ${VERSION}\n`);
    });
  for (const register of await commandsFor(args)) register(program);
  // Settings from the environment and the config files fill the flags the command line left out.
  program.hook("preAction", async (_program, action) => {
    // Specs loaded by any command carry the ECR settings block and get ECR's host checks.
    const [{ applyConfig, loadConfig }] = await Promise.all([import("./config.js"), import("../ecr/spec-vendor.js")]);
    applyConfig(action, await loadConfig());
  });
  return program;
}

async function main(argv: string[]): Promise<number> {
  try {
    const program = await createProgram(argv.slice(2));
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are normal exits; everything else commander throws is usage.
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
      return 2;
    }
    return reportError(error);
  }
}

process.exitCode = await main(process.argv);
