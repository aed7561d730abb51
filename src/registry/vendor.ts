// Registry vendors: what a hosted registry (a cloud provider's) adds to the generic distribution
// client, plugged in through one interface so that generic code names no vendor. A vendor says
// which hosts are its own; for those it may give credentials (a keychain source), prepare a push
// (create the repository), read a failure the registry could not explain (a dropped connection),
// and add its own advice to an error's hint.
import { ImagespecError } from "../errors.js";
import type { Reference } from "../reference/index.js";
import { RegistryError } from "./errors.js";
import type { CredentialSource } from "./keychain.js";
import type { FailureDiagnosis } from "./push.js";

export interface RegistryVendor {
  /** Short name for messages and logs. */
  readonly name: string;
  /** Whether the registry host (`host[:port]`) is this vendor's. Only then are the hooks below asked. */
  matches(host: string): boolean;
  /** Credentials for the vendor's hosts, asked after explicit credentials and before docker's files. */
  readonly credentials?: CredentialSource;
  /** Runs before each push to one of the vendor's hosts, before any request (create the repository). A rejection fails the push. */
  beforePush?(ref: Reference): Promise<void>;
  /** What a push request that failed without an HTTP answer means on the vendor's registry. */
  readonly diagnose?: FailureDiagnosis;
  /** The vendor's advice for a failed push (an immutable tag, a repository to create), replacing the generic hint. */
  hint?(error: ImagespecError, ref: Reference): string | undefined;
}

/** The vendor that serves a host: the first that claims it. */
export function vendorFor(vendors: readonly RegistryVendor[], host: string): RegistryVendor | undefined {
  return vendors.find((vendor) => vendor.matches(host));
}

/** The same error with another hint (a RegistryError keeps its request, status and codes). */
export function withHint(error: ImagespecError, hint: string): ImagespecError {
  if (error instanceof RegistryError) return error.withHint(hint);
  const copy = new ImagespecError(error.code, error.message, { hint, cause: error.cause ?? error });
  copy.stack = error.stack;
  return copy;
}

/** A failed push with the vendor's hint, when it has one for this error. */
export function explainFailure(vendor: RegistryVendor | undefined, error: unknown, ref: Reference): unknown {
  if (!vendor?.hint || !(error instanceof ImagespecError)) return error;
  const hint = vendor.hint(error, ref);
  return hint === undefined ? error : withHint(error, hint);
}
