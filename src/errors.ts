// Typed errors: every failure says what went wrong (message) and what to do (hint),
// and carries a stable code that callers and tests can match on. Messages and hints are redacted
// as they are made, so no error can carry a password typed into a URL or a reference.
import { redactSecrets } from "./reference/redact.js";

export class ImagespecError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint === undefined ? undefined : redactSecrets(options.hint);
  }

  /** Message and hint as the CLI prints them: what went wrong, then what to do. */
  describe(): string {
    return this.hint ? `${this.message}\nhint: ${this.hint}` : this.message;
  }
}

/** A spec, reference or option that cannot be accepted as written. */
export class ValidationError extends ImagespecError {
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[], options: { source?: string } = {}) {
    const where = options.source ? `${options.source}: ` : "";
    const lines = issues.map((i) => `${i.path || "(spec)"}: ${i.message}`);
    const message =
      issues.length === 1 ? `${where}${lines[0]}` : `${where}${issues.length} problems\n  ${lines.join("\n  ")}`;
    // Every problem says what to do: a field-specific hint when there is one, else where the fields are described.
    super("INVALID_SPEC", message, { hint: issues.find((i) => i.hint)?.hint ?? "change the field as described; docs/spec.md lists every field and the values it takes" });
    this.issues = issues;
  }
}

export interface ValidationIssue {
  /** Field path as users write it, e.g. `packages[2]` or `ecr.allowPullFrom[0]`. */
  path: string;
  message: string;
  hint?: string;
}
