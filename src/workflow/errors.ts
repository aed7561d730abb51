// The workflow layer's typed error: every failure says what went wrong and what to do.
import { ImagespecError } from "../errors.js";

export class WorkflowError extends ImagespecError {
  constructor(code: string, message: string, hint: string, cause?: unknown) {
    super(code, message, { hint, ...(cause !== undefined ? { cause } : {}) });
  }
}
