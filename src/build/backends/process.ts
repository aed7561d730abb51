// Running a builder's processes: output streamed line by line to a callback, the last lines kept
// for the error when a step fails, the process group killed on abort.
import { spawn } from "node:child_process";
import { ImagespecError } from "../../errors.js";
import type { BackendRunOptions, Invocation, OutputLine } from "./types.js";

/** Lines of output kept for a failure's message. */
export const TAIL_LINES = 25;

export class BuilderError extends ImagespecError {
  constructor(
    message: string,
    options: { hint?: string; cause?: unknown },
    /** The failing process's exit code (null when killed by a signal). */
    readonly exitCode: number | null = null,
    /** Its last lines of output. */
    readonly tail: readonly string[] = [],
  ) {
    super("BUILDER_FAILED", message, options);
  }
}

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a short command (a version check) and collects its output; rejects only when it cannot start. */
export function runTool(argv: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

/** Splits a stream into lines (no trailing newline), calling `onLine` for each. */
function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = "";
  return {
    push(chunk) {
      rest += chunk.toString("utf8");
      const parts = rest.split(/\r?\n|\r/);
      rest = parts.pop() ?? "";
      for (const line of parts) onLine(line);
    },
    end() {
      if (rest !== "") onLine(rest);
      rest = "";
    },
  };
}

/** Runs one invocation to the end; BUILDER_FAILED with the last lines and the exit code when it fails. */
export function runInvocation(invocation: Invocation, baseEnv: NodeJS.ProcessEnv, tool: string, options: BackendRunOptions = {}): Promise<void> {
  const { argv, env, step } = invocation;
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason ?? new Error("aborted"));
      return;
    }
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...baseEnv, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const tail: string[] = [];
    const emit = (stream: OutputLine["stream"]) => (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine?.({ stream, line }, step);
    };
    const out = lineSplitter(emit("stdout"));
    const err = lineSplitter(emit("stderr"));
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const kill = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    };
    options.signal?.addEventListener("abort", kill, { once: true });
    child.once("error", (error: NodeJS.ErrnoException) => {
      options.signal?.removeEventListener("abort", kill);
      reject(
        new BuilderError(`${tool} ${step}: cannot run ${argv[0]}: ${error.message}`, {
          hint: error.code === "ENOENT" ? `install ${tool}, or choose another builder` : "check the builder's installation",
          cause: error,
        }),
      );
    });
    child.once("close", (code, signal) => {
      options.signal?.removeEventListener("abort", kill);
      out.end();
      err.end();
      if (code === 0) {
        resolve();
        return;
      }
      if (options.signal?.aborted) {
        reject(options.signal.reason ?? new Error("aborted"));
        return;
      }
      const how = code === null ? `was killed by ${signal}` : `exited with code ${code}`;
      const last = tail.filter((l) => l.trim() !== "");
      reject(
        new BuilderError(
          `${tool} ${step} ${how}${last.length > 0 ? `; last lines:\n  ${last.join("\n  ")}` : " without output"}`,
          { hint: `the failing step is in the output above; rerun with the same spec to retry (the command was: ${argv.slice(0, 3).join(" ")} ...)` },
          code,
          last,
        ),
      );
    });
  });
}
