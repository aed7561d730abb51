// How the CLI reports failures: one line of what went wrong, one of what to do.
import { ImagespecError, ValidationError } from "../errors.js";
import { redactSecrets } from "../reference/index.js";

/** Prints an error for a person and returns the exit code: 2 for bad input, 1 for failures. */
export function reportError(error: unknown): number {
  if (error instanceof ImagespecError) {
    // Messages are built without secrets; a credential a user typed into an argument is removed here too.
    process.stderr.write(`error: ${redactSecrets(error.message)}\n`);
    if (error.hint) process.stderr.write(`hint: ${redactSecrets(error.hint)}\n`);
    return error instanceof ValidationError || error.code.startsWith("INVALID_") ? 2 : 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${redactSecrets(message)}\n`);
  process.stderr.write("hint: this is unexpected; rerun with --verbose and report it with the output\n");
  return 1;
}
