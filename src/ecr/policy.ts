// Cross-account pull: one statement, identified by a fixed Sid, merged into the repository's
// policy. Other statements are left exactly as they are; principals already in our statement are
// kept (granting is additive: imagespec never revokes access on its own). Merging the same
// principals again changes nothing, so the caller writes the policy only when `changed`.
import { EcrError } from "./errors.js";

export const PULL_STATEMENT_SID = "ImagespecCrossAccountPull";

/** The actions a docker/OCI pull needs from ECR. */
export const PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"] as const;

const ACCOUNT = /^\d{12}$/;

/** An account id as its root principal ARN (how IAM stores it); ARNs are kept as written. */
export function principalArn(principal: string, partition = "aws"): string {
  return ACCOUNT.test(principal) ? `arn:${partition}:iam::${principal}:root` : principal;
}

export interface PolicyMerge {
  /** The policy document to set (pretty-printed JSON). */
  readonly text: string;
  /** False when the existing policy already grants exactly this: nothing to write. */
  readonly changed: boolean;
  /** The principals of our statement after the merge. */
  readonly principals: readonly string[];
}

interface PolicyDocument {
  Version?: string;
  Statement?: unknown;
  [key: string]: unknown;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

function parse(existing: string | undefined): PolicyDocument {
  if (existing === undefined || existing.trim() === "") return { Version: "2012-10-17", Statement: [] };
  let doc: unknown;
  try {
    doc = JSON.parse(existing);
  } catch (error) {
    throw new EcrError("ECR_POLICY_INVALID", "the repository's current policy is not valid JSON; refusing to rewrite it", { hint: "fix or delete the repository policy in the console, then run again", cause: error });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new EcrError("ECR_POLICY_INVALID", "the repository's current policy is not a JSON object; refusing to rewrite it", { hint: "fix or delete the repository policy in the console, then run again" });
  }
  return doc as PolicyDocument;
}

/** Principals an AWS principal block names (`{"AWS": "..."}` or `{"AWS": [...]}`). */
function awsPrincipals(principal: unknown): string[] {
  if (typeof principal !== "object" || principal === null) return [];
  return asList((principal as { AWS?: unknown }).AWS).filter((p): p is string => typeof p === "string");
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = [...new Set(a)].sort();
  const right = [...new Set(b)].sort();
  return left.length === right.length && left.every((v, i) => v === right[i]);
}

/**
 * Merges a pull grant for `principals` (account ids or IAM ARNs) into a policy document.
 * `existing` is the repository's policy text (undefined when it has none).
 */
export function mergePullPolicy(existing: string | undefined, principals: readonly string[], partition = "aws"): PolicyMerge {
  const doc = parse(existing);
  const statements = asList(doc.Statement);
  const index = statements.findIndex((s) => typeof s === "object" && s !== null && (s as { Sid?: unknown }).Sid === PULL_STATEMENT_SID);
  const current = index >= 0 ? (statements[index] as Record<string, unknown>) : undefined;
  const had = current ? awsPrincipals(current.Principal) : [];
  const wanted = [...new Set([...had, ...principals.map((p) => principalArn(p, partition))])].sort();
  const statement = {
    Sid: PULL_STATEMENT_SID,
    Effect: "Allow",
    Principal: { AWS: wanted },
    Action: [...PULL_ACTIONS],
  };
  const unchanged =
    current !== undefined &&
    current.Effect === "Allow" &&
    current.Condition === undefined &&
    current.NotAction === undefined &&
    current.NotPrincipal === undefined &&
    sameSet(had, wanted) &&
    sameSet(asList(current.Action).filter((a): a is string => typeof a === "string"), [...PULL_ACTIONS]);
  const merged = index >= 0 ? statements.map((s, i) => (i === index ? statement : s)) : [...statements, statement];
  const text = JSON.stringify({ ...doc, Version: doc.Version ?? "2012-10-17", Statement: merged }, null, 2);
  return { text, changed: !unchanged, principals: wanted };
}

/** JSON with object keys sorted, for comparing documents regardless of key order and spacing. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Whether a lifecycle policy text already says what `wanted` says (key order and spacing aside). */
export function sameDocument(existing: string | undefined, wanted: unknown): boolean {
  if (existing === undefined) return false;
  try {
    return canonicalJson(JSON.parse(existing)) === canonicalJson(wanted);
  } catch {
    return false;
  }
}
