// `imagespec completion bash|zsh`: prints the completion script for the shell.
import type { Command } from "commander";
import { ImagespecError } from "../../errors.js";
import { bashCompletion, zshCompletion } from "../completion.js";
import { reportError } from "../output.js";
import type { RegisterCommand } from "./index.js";

export const registerCompletionCommand: RegisterCommand = (program: Command) => {
  program
    .command("completion")
    .description("print the shell completion script for bash or zsh")
    .argument("<shell>", "bash or zsh")
    .addHelpText(
      "after",
      `
Examples:
  imagespec completion bash > /etc/bash_completion.d/imagespec  # every bash, system-wide
  source <(imagespec completion bash)                           # this shell; or add it to ~/.bashrc
  imagespec completion zsh > "\${fpath[1]}/_imagespec"           # zsh, then start a new shell`,
    )
    .action((shell: string) => {
      if (shell === "bash") process.stdout.write(bashCompletion(program));
      else if (shell === "zsh") process.stdout.write(zshCompletion(program));
      else process.exitCode = reportError(new ImagespecError("INVALID_ARGUMENT", `no completion for the shell ${JSON.stringify(shell)}`, { hint: "use bash or zsh" }));
    });
};
