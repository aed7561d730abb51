// Content digests (`sha256:<hex>`), computed from buffers or incrementally from streams.
import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { ImagespecError } from "../errors.js";

export type Digest = `sha256:${string}`;

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): value is Digest {
  return SHA256.test(value);
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export class DigestMismatchError extends ImagespecError {
  constructor(what: string, expected: string, actual: string) {
    super("DIGEST_MISMATCH", `${what}: content digest is ${actual}, expected ${expected}`, {
      hint: "the content changed or was corrupted in transit; retry, and if it persists the source is damaged",
    });
  }
}

/**
 * A pass-through stream that hashes and counts what flows through it. With `expect`, it fails
 * the stream at the end when the digest or size differs, so a reader never trusts bad bytes.
 */
export class DigestingStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private count = 0;
  private result: Digest | undefined;

  constructor(private readonly expect?: { digest?: string; size?: number; what?: string }) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.result = `sha256:${this.hash.digest("hex")}`;
    const what = this.expect?.what ?? "blob";
    if (this.expect?.digest !== undefined && this.expect.digest !== this.result) {
      callback(new DigestMismatchError(what, this.expect.digest, this.result));
      return;
    }
    if (this.expect?.size !== undefined && this.expect.size !== this.count) {
      callback(
        new ImagespecError("DIGEST_MISMATCH", `${what}: content is ${this.count} bytes, expected ${this.expect.size}`, {
          hint: "the content changed or was cut short in transit; retry, and if it persists the source is damaged",
        }),
      );
      return;
    }
    callback();
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.count;
  }

  /** The digest of the bytes seen so far, without ending the hash. */
  digestSoFar(): Digest {
    return this.result ?? `sha256:${this.hash.copy().digest("hex")}`;
  }

  /** The digest, available once the stream has ended. */
  get digest(): Digest {
    if (this.result === undefined) throw new Error("digest read before the stream ended");
    return this.result;
  }
}
