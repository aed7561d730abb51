// Stream stages for wheel members on their way into a layer: checking the content against the
// hash the wheel's RECORD claims, and replacing the first line of a script. Both work chunk by
// chunk, so a 500 MB shared library passes through in bounded memory.
import { createHash, type Hash } from "node:crypto";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { PythonError } from "./errors.js";

/** Node hash names for the RECORD algorithms worth trusting (PEP 427 rules out md5 and sha1). */
export const RECORD_ALGORITHMS = new Set(["sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b"]);

export function nodeHashName(algorithm: string): string {
  if (algorithm.startsWith("sha3_")) return algorithm.replace("_", "-");
  return algorithm === "blake2b" ? "blake2b512" : algorithm;
}

/** Fails at the end of the stream unless the bytes hash to `expectedHex`. */
export class VerifyingStream extends Transform {
  private readonly hash: Hash;

  constructor(
    private readonly algorithm: string,
    private readonly expectedHex: string,
    private readonly what: string,
  ) {
    super();
    this.hash = createHash(nodeHashName(algorithm));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.hash.digest("hex");
    if (actual === this.expectedHex) return callback();
    callback(recordMismatch(this.what, this.algorithm, this.expectedHex, actual));
  }
}

export function recordMismatch(what: string, algorithm: string, expectedHex: string, actualHex: string): PythonError {
  return new PythonError("WHEEL_RECORD_MISMATCH", `${what}: content ${algorithm} is ${actualHex}, but the wheel's RECORD says ${expectedHex}`, {
    hint: "the wheel is damaged or was altered after it was built; download it again, and if it persists report it to the package's maintainers",
  });
}

/** Drops the first `skip` bytes and emits `prefix` in their place. */
export class ReplaceHeadStream extends Transform {
  private remainingToSkip: number;
  private prefixSent = false;

  constructor(
    skip: number,
    private readonly prefix: Buffer,
  ) {
    super();
    this.remainingToSkip = skip;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sendPrefix();
    if (this.remainingToSkip >= chunk.length) {
      this.remainingToSkip -= chunk.length;
      return callback();
    }
    const rest = chunk.subarray(this.remainingToSkip);
    this.remainingToSkip = 0;
    callback(null, rest);
  }

  override _flush(callback: TransformCallback): void {
    this.sendPrefix();
    callback();
  }

  private sendPrefix(): void {
    if (this.prefixSent) return;
    this.prefixSent = true;
    this.push(this.prefix);
  }
}

/** Pipes `source` through `stage`, passing errors of the source on to the result. */
export function through(source: Readable, stage: Transform): Readable {
  source.on("error", (error) => stage.destroy(error));
  return source.pipe(stage);
}
