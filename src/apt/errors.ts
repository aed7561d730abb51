// Errors of the apt step: what went wrong with a Debian package, an index or a signature, and what
// to do about it. Codes are stable; tests and callers match on them.
import { ImagespecError } from "../errors.js";

export type AptErrorCode =
  | "APT_NO_DISTRIBUTION"
  | "APT_NO_SOURCES"
  | "APT_BAD_SOURCES"
  | "APT_FETCH_FAILED"
  | "APT_HASH_MISMATCH"
  | "APT_SIGNATURE_INVALID"
  | "APT_NO_KEYRING"
  | "APT_RELEASE_EXPIRED"
  | "APT_NO_INDEX"
  | "APT_PACKAGE_NOT_FOUND"
  | "APT_VERSION_NOT_FOUND"
  | "APT_UNSATISFIABLE"
  | "APT_ARCHITECTURE"
  | "APT_BAD_DEB"
  | "APT_BAD_CONTROL"
  | "APT_DECOMPRESS";

export class AptError extends ImagespecError {
  declare readonly code: AptErrorCode;

  constructor(code: AptErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}
