// Errors raised while building layers. Each names the entry (path) or tool involved and says
// what to change, so a failed build points at the spec line or the missing program.
import { ImagespecError } from "../errors.js";

export type LayerErrorCode =
  | "LAYER_INVALID_PATH"
  | "LAYER_DUPLICATE_PATH"
  | "LAYER_INVALID_ENTRY"
  | "LAYER_SIZE_MISMATCH"
  | "LAYER_INVALID_EPOCH"
  | "LAYER_INVALID_OPTION"
  | "COMPRESSOR_UNAVAILABLE"
  | "COMPRESSOR_FAILED";

export class LayerError extends ImagespecError {
  declare readonly code: LayerErrorCode;

  constructor(code: LayerErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}
