// Errors raised while turning Python requirements into layers. Each names the wheel, package or
// interpreter involved and says what to change, so a failed build points at the spec line.
import { ImagespecError } from "../errors.js";

export type PythonErrorCode =
  | "WHEEL_INVALID_FILENAME"
  | "WHEEL_INVALID"
  | "WHEEL_UNSAFE_PATH"
  | "WHEEL_RECORD_MISMATCH"
  | "WHEEL_DOWNLOAD_FAILED"
  | "WHEEL_HASH_MISMATCH"
  | "PYTHON_TARGET_UNSUPPORTED"
  | "PYTHON_RESOLUTION_FAILED"
  | "PYTHON_LOCK_INVALID"
  | "PYTHON_INDEX_UNREACHABLE"
  | "PYTHON_NO_WHEEL_FOR_TARGET"
  | "PYTHON_TOOL_MISSING"
  | "PYTHON_NOT_FOUND"
  | "PYTHON_VERSION_MISMATCH";

export class PythonError extends ImagespecError {
  declare readonly code: PythonErrorCode;

  constructor(code: PythonErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** URLs in messages never carry secrets: the one redaction rule (reference/redact.ts). */
export { redactSecrets, redactUrl } from "../reference/redact.js";
