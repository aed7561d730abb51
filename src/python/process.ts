// Running the resolver tools (pip, uv) as child processes: no shell, bounded output, a timeout,
// and "not installed" told apart from "failed".
import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join } from "node:path";

export interface ToolRun {
  /** Exit code; null when killed (timeout or abort). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ToolRunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Output beyond this is dropped from the middle: the start says what ran, the end says why it failed. */
const OUTPUT_LIMIT = 4 << 20;

/** Runs a program; rejects only when it cannot be started (ENOENT etc.), never for its exit code. */
export function runTool(command: string, args: readonly string[], options: ToolRunOptions = {}): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"], signal: options.signal });
    const out = new BoundedText();
    const err = new BoundedText();
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
          }, options.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => out.add(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.add(chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: out.text(), stderr: err.text(), timedOut });
    });
  });
}

class BoundedText {
  private head: Buffer[] = [];
  private headSize = 0;
  private tail: Buffer[] = [];
  private tailSize = 0;
  private dropped = false;

  add(chunk: Buffer): void {
    if (this.headSize < OUTPUT_LIMIT / 2) {
      this.head.push(chunk);
      this.headSize += chunk.length;
      return;
    }
    this.tail.push(chunk);
    this.tailSize += chunk.length;
    while (this.tailSize > OUTPUT_LIMIT / 2 && this.tail.length > 1) {
      this.tailSize -= this.tail.shift()!.length;
      this.dropped = true;
    }
  }

  text(): string {
    const middle = this.dropped ? [Buffer.from("\n[... output cut ...]\n")] : [];
    return Buffer.concat([...this.head, ...middle, ...this.tail]).toString("utf8");
  }
}

/** The first executable called `name` on PATH, or undefined. */
export async function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}
