// Every subcommand registers itself on the program; main.ts registers only those a command line
// needs, so `imagespec build` loads the build command's code and `imagespec --version` loads none.
import type { Command } from "commander";

export type RegisterCommand = (program: Command) => void;

/** The modules that register commands, by the command names each registers, in help-page order. */
const COMMAND_MODULES: readonly { names: readonly string[]; load: () => Promise<RegisterCommand[]> }[] = [
  { names: ["tag"], load: async () => [(await import("./tag.js")).registerTagCommand] },
  { names: ["build"], load: async () => [(await import("./build.js")).registerBuildCommand] },
  { names: ["dockerfile"], load: async () => [(await import("./dockerfile.js")).registerDockerfileCommand] },
  { names: ["exists"], load: async () => [(await import("./exists.js")).registerExistsCommand] },
  { names: ["inspect"], load: async () => [(await import("./inspect.js")).registerInspectCommand] },
  { names: ["copy"], load: async () => [(await import("./copy.js")).registerCopyCommand] },
  { names: ["ecr"], load: async () => [(await import("./ecr.js")).registerEcrCommand] },
  { names: ["config"], load: async () => [(await import("./config.js")).registerConfigCommand] },
  { names: ["cache"], load: async () => [(await import("./cache.js")).registerCacheCommand] },
  { names: ["completion"], load: async () => [(await import("./completion.js")).registerCompletionCommand] },
  {
    names: ["package", "register"],
    load: async () => {
      const workflow = await import("./workflow.js");
      return [workflow.registerPackageCommand, workflow.registerRegisterCommand];
    },
  },
];

/** Commands the program itself defines (main.ts): nothing to load for them. */
const BUILT_IN = new Set(["version"]);

/**
 * The commands to register for the arguments after `imagespec`: the one they name (`build ...`,
 * `help build`), none for `--version` or `version`, and all of them where every command is needed:
 * the main help page, a name to suggest the nearest command for, `completion` (made from them all).
 */
export async function commandsFor(args: readonly string[]): Promise<RegisterCommand[]> {
  // The program's own options (--help, --version) take no value: the first operand is the command.
  const operands = args.filter((arg) => !arg.startsWith("-"));
  const name = operands[0] === "help" ? operands[1] : operands[0];
  if (operands.length === 0 && args.includes("--version") && !args.includes("-h") && !args.includes("--help")) return [];
  if (name !== undefined && BUILT_IN.has(name)) return [];
  const named = name === undefined || name === "completion" ? undefined : COMMAND_MODULES.find((m) => m.names.includes(name));
  const modules = named ? [named] : COMMAND_MODULES;
  return (await Promise.all(modules.map((m) => m.load()))).flat();
}
