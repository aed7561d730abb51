// PutLifecyclePolicy's document check, as ECR does it: a JSON schema (required and allowed
// properties, enums, minimums) and then the rules between rules (unique priorities, `any` last,
// tag lists only for tagged images, at most four wildcards a pattern). The first failure is the
// answer, in ECR's words: InvalidParameterException "Invalid parameter at 'LifecyclePolicyText'
// failed to satisfy constraint: 'Lifecycle policy validation failure: ...'".
// Written from AWS's lifecycle policy properties page and moto's validator; it shares no code with
// src/ecr, so that the two can disagree.

const PREFIX = "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: ";

export class LifecycleRefusal extends Error {
  constructor(detail: string) {
    super(`${PREFIX}${detail}'`);
  }
}

interface ObjectSchema {
  required: string[];
  allowed: string[];
}

const RULE: ObjectSchema = { required: ["action", "rulePriority", "selection"], allowed: ["action", "description", "rulePriority", "selection"] };
const SELECTION: ObjectSchema = {
  required: ["countNumber", "countType", "tagStatus"],
  allowed: ["countNumber", "countType", "countUnit", "storageClass", "tagPatternList", "tagPrefixList", "tagStatus"],
};
const ACTION: ObjectSchema = { required: ["type"], allowed: ["targetStorageClass", "type"] };

const ENUMS: Record<string, string[]> = {
  tagStatus: ["any", "tagged", "untagged"],
  countType: ["imageCountMoreThan", "sinceImagePulled", "sinceImagePushed", "sinceImageTransitioned"],
  countUnit: ["days"],
  storageClass: ["archive", "standard"],
  type: ["expire", "transition"],
  targetStorageClass: ["archive"],
};

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new LifecycleRefusal(`instance type (${Array.isArray(value) ? "array" : value === null ? "null" : typeof value}) does not match any allowed primitive type (allowed: ["object"])`);
  }
  return value as Record<string, unknown>;
}

function checkObject(value: unknown, schema: ObjectSchema): Record<string, unknown> {
  const object = asObject(value);
  const missing = schema.required.filter((key) => !(key in object));
  if (missing.length > 0) throw new LifecycleRefusal(`object has missing required properties (${JSON.stringify(missing)})`);
  const extra = Object.keys(object).filter((key) => !schema.allowed.includes(key));
  if (extra.length > 0) throw new LifecycleRefusal(`object instance has properties which are not allowed by the schema: (${JSON.stringify(extra.sort())})`);
  for (const [key, allowed] of Object.entries(ENUMS)) {
    if (key in object && !allowed.includes(object[key] as string)) {
      throw new LifecycleRefusal(`instance value (${JSON.stringify(object[key])}) not found in enum (possible values: ${JSON.stringify(allowed)})`);
    }
  }
  return object;
}

function integerAtLeastOne(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new LifecycleRefusal(`instance type (${typeof value}) does not match any allowed primitive type (allowed: ["integer"])`);
  if (value < 1) throw new LifecycleRefusal(`numeric instance is lower than the required minimum (minimum: 1, found: ${value})`);
  return value;
}

function stringList(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== "string" || v.length === 0)) {
    throw new LifecycleRefusal(`${name} must be a non-empty array of non-empty strings`);
  }
  return value as string[];
}

/** Throws LifecycleRefusal with ECR's message unless ECR would accept the policy text. */
export function checkLifecyclePolicyText(text: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new LifecycleRefusal("Could not map policyString into LifecyclePolicy.");
  }
  const root = asObject(doc);
  if (!("rules" in root)) throw new LifecycleRefusal('object has missing required properties (["rules"])');
  if (!Array.isArray(root.rules)) throw new LifecycleRefusal('instance type (object) does not match any allowed primitive type (allowed: ["array"])');
  if (root.rules.length === 0) throw new LifecycleRefusal("array is too short: must have at least 1 elements but instance has 0 elements");

  const seen = new Set<number>();
  const anyPriorities: number[] = [];
  let highest = 0;
  for (const item of root.rules) {
    const rule = checkObject(item, RULE);
    const priority = integerAtLeastOne(rule.rulePriority);
    if (rule.description !== undefined && typeof rule.description !== "string") throw new LifecycleRefusal("description must be a string");
    const selection = checkObject(rule.selection, SELECTION);
    const action = checkObject(rule.action, ACTION);
    integerAtLeastOne(selection.countNumber);

    if (seen.has(priority)) throw new LifecycleRefusal(`The rulePriority ${priority} is used more than once; each rule needs a unique rulePriority.`);
    seen.add(priority);
    highest = Math.max(highest, priority);
    if (selection.tagStatus === "any") anyPriorities.push(priority);

    const prefixes = selection.tagPrefixList === undefined ? undefined : stringList(selection.tagPrefixList, "tagPrefixList");
    const patterns = selection.tagPatternList === undefined ? undefined : stringList(selection.tagPatternList, "tagPatternList");
    if (selection.tagStatus === "tagged" && prefixes === undefined && patterns === undefined) {
      throw new LifecycleRefusal("tagPrefixList or tagPatternList is required when tagStatus is tagged.");
    }
    if (selection.tagStatus !== "tagged" && (prefixes !== undefined || patterns !== undefined)) {
      throw new LifecycleRefusal("tagPrefixList and tagPatternList can only be used when tagStatus is tagged.");
    }
    for (const pattern of patterns ?? []) {
      if ((pattern.match(/\*/g) ?? []).length > 4) throw new LifecycleRefusal(`tagPatternList entry ${pattern} has more than 4 wildcards.`);
    }
    const byAge = selection.countType !== "imageCountMoreThan";
    if (byAge && selection.countUnit === undefined) throw new LifecycleRefusal(`countUnit is required when countType is ${String(selection.countType)}.`);
    if (!byAge && selection.countUnit !== undefined) throw new LifecycleRefusal("countUnit can only be used when countType is sinceImagePushed, sinceImagePulled or sinceImageTransitioned.");
    if (action.type === "transition" && action.targetStorageClass === undefined) throw new LifecycleRefusal("targetStorageClass is required when action type is transition.");
    if (action.type !== "transition" && action.targetStorageClass !== undefined) throw new LifecycleRefusal("targetStorageClass can only be used when action type is transition.");
  }
  if (anyPriorities.some((priority) => priority !== highest)) {
    throw new LifecycleRefusal("The rule with tagStatus any must have the highest rulePriority and be evaluated last.");
  }
}
