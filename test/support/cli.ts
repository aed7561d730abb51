// The real CLI as a child process, from the sources (tsx), from any working folder: what a user
// runs, with an environment the test chooses (no HOME by default, so no user config or token
// cache leaks in).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { run, type RunOptions, type RunResult } from "./tools.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TSX = import.meta.resolve("tsx");
const MAIN = join(ROOT, "src", "cli", "main.ts");

export function imagespecCli(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, ["--import", TSX, MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" },
    timeoutMs: 60_000,
    ...opts,
  });
}

/** The same command as one shell line (for `script`, which runs it under a pseudo-terminal). */
export function imagespecCommandLine(args: readonly string[]): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [process.execPath, "--import", TSX, MAIN, ...args].map(quote).join(" ");
}
