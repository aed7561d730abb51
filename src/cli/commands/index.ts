// Every subcommand registers itself on the program; main.ts stays a list.
import type { Command } from "commander";
import { registerTagCommand } from "./tag.js";

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerTagCommand];
