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

// Lifecycle policies: checked whole, as ECR checks them in PutLifecyclePolicy, before any AWS call,
// so that a document ECR would refuse stops the build before a repository is created. The rules
// are those of ECR's lifecycle policy properties (user guide); unknown properties are refused, as
// ECR's JSON schema refuses them.

/** One thing ECR would refuse in a lifecycle policy, at a path inside the document. */
export interface LifecycleProblem {
  /** Where, from the document's root: `["rules", 0, "selection", "countNumber"]`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export const LIFECYCLE_POLICY_HINT =
  "write the policy as ECR's lifecycle policy properties describe it: https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html";

/** ECR's limit on `lifecyclePolicyText` (characters). */
export const LIFECYCLE_POLICY_MAX_LENGTH = 30_720;
/** At most this many `*` in one tagPatternList entry. */
const MAX_PATTERN_WILDCARDS = 4;

const RULE_KEYS = ["rulePriority", "description", "selection", "action"];
const SELECTION_KEYS = ["tagStatus", "tagPrefixList", "tagPatternList", "storageClass", "countType", "countUnit", "countNumber"];
const ACTION_KEYS = ["type", "targetStorageClass"];
const TAG_STATUSES = ["tagged", "untagged", "any"];
const COUNT_TYPES = ["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"];
const STORAGE_CLASSES = ["standard", "archive"];
const ACTION_TYPES = ["expire", "transition"];

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value >= 1;
const oneOf = (values: readonly string[]): string => values.map((v) => JSON.stringify(v)).join(", ");

/** Every problem ECR would find in a lifecycle policy document; empty when ECR accepts it. */
export function checkLifecyclePolicy(doc: unknown): LifecycleProblem[] {
  const problems: LifecycleProblem[] = [];
  const problem = (path: readonly (string | number)[], message: string): void => {
    problems.push({ path, message });
  };
  const only = (value: Json, allowed: readonly string[], path: readonly (string | number)[]): void => {
    for (const key of Object.keys(value)) if (!allowed.includes(key)) problem([...path, key], `unknown property; ECR allows ${oneOf(allowed)} here`);
  };

  if (!isObject(doc)) return [{ path: [], message: "a lifecycle policy is an object with a list of rules" }];
  const rules = doc.rules;
  if (!Array.isArray(rules) || rules.length === 0) return [{ path: ["rules"], message: "a lifecycle policy needs at least one rule" }];

  const priorities = new Map<number, number>();
  rules.forEach((rule: unknown, index) => {
    const at = ["rules", index];
    if (!isObject(rule)) return problem(at, "a rule is an object with rulePriority, selection and action");
    only(rule, RULE_KEYS, at);
    if (!isCount(rule.rulePriority)) problem([...at, "rulePriority"], "rulePriority must be a whole number of 1 or more");
    else if (priorities.has(rule.rulePriority)) problem([...at, "rulePriority"], `rulePriority ${rule.rulePriority} is also the priority of rules[${priorities.get(rule.rulePriority)}]; each rule needs its own`);
    else priorities.set(rule.rulePriority, index);
    if (rule.description !== undefined && typeof rule.description !== "string") problem([...at, "description"], "description must be a string");
    checkSelection(rule.selection, [...at, "selection"], problem, only);
    checkAction(rule.action, [...at, "action"], problem, only);
  });

  // A rule on `any` image is evaluated last: its priority must be above every other rule's.
  const highest = Math.max(...priorities.keys());
  rules.forEach((rule: unknown, index) => {
    if (isObject(rule) && isObject(rule.selection) && rule.selection.tagStatus === "any" && isCount(rule.rulePriority) && rule.rulePriority !== highest) {
      problem(["rules", index, "rulePriority"], `a rule with tagStatus "any" must have the highest rulePriority (${rule.rulePriority} is not; ${highest} is)`);
    }
  });
  if (problems.length === 0 && lifecyclePolicyText(doc).length > LIFECYCLE_POLICY_MAX_LENGTH) {
    problem([], `the policy is longer than ECR's limit of ${LIFECYCLE_POLICY_MAX_LENGTH} characters`);
  }
  return problems;
}

/** The `lifecyclePolicyText` sent to ECR for a document (the length ECR's limit applies to). */
export function lifecyclePolicyText(doc: unknown): string {
  return JSON.stringify(doc, null, 2);
}

type Report = (path: readonly (string | number)[], message: string) => void;
type Only = (value: Json, allowed: readonly string[], path: readonly (string | number)[]) => void;

function checkSelection(selection: unknown, at: readonly (string | number)[], problem: Report, only: Only): void {
  if (!isObject(selection)) return problem(at, "selection is required: an object with tagStatus, countType and countNumber");
  only(selection, SELECTION_KEYS, at);
  const { tagStatus, countType, countUnit, countNumber, storageClass } = selection;
  if (!TAG_STATUSES.includes(tagStatus as string)) problem([...at, "tagStatus"], `tagStatus must be one of ${oneOf(TAG_STATUSES)}`);
  const lists = (["tagPrefixList", "tagPatternList"] as const).filter((key) => selection[key] !== undefined);
  for (const key of lists) {
    const list = selection[key];
    if (!Array.isArray(list) || list.length === 0 || !list.every((item) => typeof item === "string" && item.length > 0)) {
      problem([...at, key], `${key} must be a non-empty list of non-empty strings`);
    } else if (key === "tagPatternList") {
      list.forEach((pattern: string, i) => {
        if (pattern.split("*").length - 1 > MAX_PATTERN_WILDCARDS) problem([...at, key, i], `${JSON.stringify(pattern)} has more than ${MAX_PATTERN_WILDCARDS} wildcards (*)`);
      });
    }
  }
  if (tagStatus === "tagged" && lists.length === 0) problem([...at, "tagStatus"], 'tagStatus "tagged" needs a tagPatternList (e.g. ["prod*"]) or a tagPrefixList');
  if ((tagStatus === "untagged" || tagStatus === "any") && lists.length > 0) problem([...at, lists[0]!], `${lists[0]} only applies to tagStatus "tagged"`);
  if (storageClass !== undefined && !STORAGE_CLASSES.includes(storageClass as string)) problem([...at, "storageClass"], `storageClass must be one of ${oneOf(STORAGE_CLASSES)}`);
  if (countType === undefined) problem([...at, "countType"], `countType is required: ${oneOf(COUNT_TYPES)}`);
  else if (!COUNT_TYPES.includes(countType as string)) problem([...at, "countType"], `countType must be one of ${oneOf(COUNT_TYPES)}`);
  if (countType === "imageCountMoreThan" && countUnit !== undefined) problem([...at, "countUnit"], 'countUnit only applies to the sinceImage* count types; "imageCountMoreThan" counts images');
  if (typeof countType === "string" && countType.startsWith("since") && countUnit !== "days") problem([...at, "countUnit"], `countType ${JSON.stringify(countType)} needs countUnit "days"`);
  if (!isCount(countNumber)) problem([...at, "countNumber"], countNumber === undefined ? "countNumber is required: a whole number of 1 or more" : "countNumber must be a whole number of 1 or more");
}

function checkAction(action: unknown, at: readonly (string | number)[], problem: Report, only: Only): void {
  if (!isObject(action)) return problem(at, 'action is required: {type: "expire"}');
  only(action, ACTION_KEYS, at);
  if (!ACTION_TYPES.includes(action.type as string)) problem([...at, "type"], `action type must be one of ${oneOf(ACTION_TYPES)}`);
  if (action.type === "transition" && action.targetStorageClass !== "archive") problem([...at, "targetStorageClass"], 'a transition needs targetStorageClass "archive"');
  if (action.type !== "transition" && action.targetStorageClass !== undefined) problem([...at, "targetStorageClass"], 'targetStorageClass only applies to action type "transition"');
}

/** `rules[0].selection.countType` */
export function lifecyclePath(path: readonly (string | number)[]): string {
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? part : `.${part}`)).join("");
}

/** Throws EcrError INVALID_LIFECYCLE_POLICY naming every problem, unless ECR would accept the document. */
export function validateLifecyclePolicy(doc: unknown): void {
  const problems = checkLifecyclePolicy(doc);
  if (problems.length === 0) return;
  const lines = problems.map((p) => `ecr.lifecyclePolicy${p.path.length > 0 ? `.${lifecyclePath(p.path)}` : ""}: ${p.message}`);
  throw new EcrError("INVALID_LIFECYCLE_POLICY", lines.length === 1 ? lines[0]! : `the lifecycle policy has ${lines.length} problems\n  ${lines.join("\n  ")}`, {
    hint: `${LIFECYCLE_POLICY_HINT}; nothing was changed in ECR`,
  });
}
