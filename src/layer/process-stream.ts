// An external program (pigz, zstd) as a stream: bytes written go to its stdin, its stdout is
// what is read. Backpressure runs both ways through the pipes, and a non-zero exit fails the
// stream with the program's own complaint, so a broken compressor never yields a short blob.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { Duplex, type Readable, type Writable } from "node:stream";
import { LayerError } from "./errors.js";

/** Where `name` is on PATH, or undefined. */
export function findExecutable(name: string, path: string = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Keeps the end of stderr for the error message; a chatty program cannot grow memory. */
const STDERR_LIMIT = 4096;

export class ProcessStream extends Duplex {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = "";

  constructor(
    private readonly command: string,
    args: readonly string[],
  ) {
    super();
    this.child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (text: string) => {
      this.stderr = (this.stderr + text).slice(-STDERR_LIMIT);
    });
    this.child.stdout.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) this.child.stdout.pause();
    });
    // The pipe breaks when the program dies early; its exit status explains why.
    this.child.stdin.on("error", () => {});

    const stdoutEnded = new Promise<void>((resolve) => this.child.stdout.once("end", resolve));
    const exited = new Promise<void>((resolve, reject) => {
      this.child.once("error", (error) => reject(this.failure(`cannot run ${command}: ${error.message}`, error)));
      this.child.once("close", (code, signal) => {
        if (code === 0) resolve();
        else reject(this.failure(`${command} ${code === null ? `was killed by ${signal}` : `exited with code ${code}`}: ${this.stderr.trim() || "(no message)"}`));
      });
    });
    // The stream ends once the output is drained and the program has said it succeeded.
    Promise.all([stdoutEnded, exited]).then(
      () => this.push(null),
      (error: Error) => this.destroy(error),
    );
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once("drain", () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end();
    callback();
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    callback(error);
  }

  private failure(message: string, cause?: unknown): LayerError {
    return new LayerError("COMPRESSOR_FAILED", message, { cause, hint: `check that ${this.command} works: run it by hand on a sample` });
  }
}
