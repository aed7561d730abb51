// The real CLI as a child process, from any working folder: what a user runs (the bundle that
// `npm run build` makes, built here from the current sources by scripts/build-cli.ts), with an
// environment the test chooses (no HOME by default, so no user config or token cache leaks in).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { run, type RunOptions, type RunResult } from "./tools.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Bundles live inside the repository, so their imports of the unbundled dependencies resolve from its node_modules. */
const BUNDLES = join(ROOT, "node_modules", ".cache", "imagespec-cli");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : [join(dir, entry.name)]))
    .sort();
}

let cliBin: string | undefined;

/**
 * dist/cli/bin.js as `npm run build` would make it from the sources as they are now. Built once
 * for a given content of src/, package.json and the build script, and shared by the test processes.
 */
function bundledCli(): string {
  if (cliBin !== undefined) return cliBin;
  const hash = createHash("sha256");
  for (const file of [...sourceFiles(join(ROOT, "src")), join(ROOT, "package.json"), join(ROOT, "scripts", "build-cli.ts")]) {
    hash.update(`${file}\0`).update(readFileSync(file)).update("\0");
  }
  const dir = join(BUNDLES, hash.digest("hex").slice(0, 16));
  if (!existsSync(join(dir, "bin.js"))) {
    mkdirSync(BUNDLES, { recursive: true });
    const building = `${dir}.${process.pid}`;
    execFileSync(process.execPath, [join(ROOT, "scripts", "build-cli.ts"), building], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
    try {
      renameSync(building, dir);
    } catch {
      // Another test process finished the same bundle first.
      rmSync(building, { recursive: true, force: true });
    }
    // Bundles of sources that have since changed, unless one could still be running (an hour).
    for (const old of readdirSync(BUNDLES)) {
      const path = join(BUNDLES, old);
      if (path !== dir && Date.now() - statSync(path).mtimeMs > 3_600_000) rmSync(path, { recursive: true, force: true });
    }
  }
  cliBin = join(dir, "bin.js");
  return cliBin;
}

export function imagespecCli(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [bundledCli(), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" },
    timeoutMs: 60_000,
    ...opts,
  });
}

/** The same command as one shell line (for `script`, which runs it under a pseudo-terminal). */
export function imagespecCommandLine(args: readonly string[]): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [process.execPath, bundledCli(), ...args].map(quote).join(" ");
}
