// Detection helpers: a tool is found on PATH and its version command really runs; anything else is
// reported with the reason and how to install it.
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { runTool, type ToolResult } from "./process.js";
import type { BackendName, Detection } from "./types.js";

/** The program's path on the environment's PATH, or undefined. */
export function findOnPath(program: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(":")) {
    if (dir === "") continue;
    const path = join(dir, program);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.trim() ?? "";
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n").filter((l) => l.trim() !== "");
  return lines[lines.length - 1]?.trim() ?? "";
}

export type VersionCheck = { ok: true; path: string; version: string; result: ToolResult } | Extract<Detection, { ok: false }>;

/** Runs `program ...args` (the version command); missing when not on PATH, broken when it fails. */
export async function checkVersion(name: BackendName, program: string, args: readonly string[], env: NodeJS.ProcessEnv, install: string): Promise<VersionCheck> {
  const path = findOnPath(program, env);
  if (path === undefined) return { ok: false, name, status: "missing", reason: `${program} is not installed (not on PATH)`, install };
  let result: ToolResult;
  try {
    result = await runTool([path, ...args], env);
  } catch (error) {
    return { ok: false, name, status: "broken", reason: `${path} cannot be run: ${(error as Error).message}`, install };
  }
  if (result.code !== 0) {
    const why = lastLine(result.stderr) || lastLine(result.stdout) || "no output";
    return { ok: false, name, status: "broken", reason: `\`${program} ${args.join(" ")}\` failed (${result.code === null ? `signal ${result.signal}` : `exit ${result.code}`}): ${why}`, install };
  }
  return { ok: true, path, version: firstLine(result.stdout) || firstLine(result.stderr), result };
}

/** A further check after the version command: broken with the reason when it fails. */
export async function checkWorks(name: BackendName, argv: readonly string[], env: NodeJS.ProcessEnv, what: string, install: string): Promise<Extract<Detection, { ok: false }> | undefined> {
  let result: ToolResult;
  try {
    result = await runTool(argv, env);
  } catch (error) {
    return { ok: false, name, status: "broken", reason: `${what}: ${(error as Error).message}`, install };
  }
  if (result.code === 0) return undefined;
  return { ok: false, name, status: "broken", reason: `${what}: ${lastLine(result.stderr) || lastLine(result.stdout) || `exit ${result.code}`}`, install };
}
