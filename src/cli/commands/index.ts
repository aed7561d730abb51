// Every subcommand registers itself on the program; main.ts stays a list.
import type { Command } from "commander";
import { registerBuildCommand } from "./build.js";
import { registerCacheCommand } from "./cache.js";
import { registerCompletionCommand } from "./completion.js";
import { registerConfigCommand } from "./config.js";
import { registerCopyCommand } from "./copy.js";
import { registerDockerfileCommand } from "./dockerfile.js";
import { registerEcrCommand } from "./ecr.js";
import { registerExistsCommand } from "./exists.js";
import { registerInspectCommand } from "./inspect.js";
import { registerTagCommand } from "./tag.js";
import { registerPackageCommand, registerRegisterCommand } from "./workflow.js";

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerTagCommand, registerBuildCommand, registerDockerfileCommand, registerExistsCommand, registerInspectCommand, registerCopyCommand, registerEcrCommand, registerConfigCommand, registerCacheCommand, registerCompletionCommand, registerPackageCommand, registerRegisterCommand];
