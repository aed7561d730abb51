// Repository policies (resource-based IAM policies) as ECR evaluates them for cross-account access:
// an explicit Deny wins, otherwise some Allow statement must name the caller and the action.
// Conditions are not supported: a statement with a Condition never matches (fail closed), so a test
// cannot pass by accident on a policy the emulator does not understand.

/** IAM-style wildcard match (`*` any run, `?` one char), case-insensitive as IAM action names are. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = true): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`, caseInsensitive ? "i" : "").test(value);
}

interface Statement {
  Effect?: unknown;
  Principal?: unknown;
  Action?: unknown;
  NotAction?: unknown;
  Condition?: unknown;
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
}

/** Parses a policy document; undefined when it is not one ECR would accept. */
export function parsePolicy(text: string): Statement[] | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return undefined;
  const statements = asList((doc as { Statement?: unknown }).Statement);
  if (statements.length === 0) return undefined;
  for (const s of statements) {
    if (typeof s !== "object" || s === null) return undefined;
    const st = s as Statement;
    if (st.Effect !== "Allow" && st.Effect !== "Deny") return undefined;
    if (st.Principal === undefined) return undefined; // resource policies must name a principal
    if (st.Action === undefined && st.NotAction === undefined) return undefined;
  }
  return statements as Statement[];
}

/** Whether one principal entry covers a caller (account id, root ARN, any IAM ARN of the account, "*"). */
function principalCovers(entry: unknown, accountId: string, userArn: string): boolean {
  if (typeof entry !== "string") return false;
  if (entry === "*" || entry === accountId || entry === userArn) return true;
  return new RegExp(`^arn:aws:iam::${accountId}:(root|role/.+|user/.+)$`).test(entry);
}

function statementPrincipalMatches(principal: unknown, accountId: string, userArn: string): boolean {
  if (principal === "*") return true;
  if (typeof principal !== "object" || principal === null) return false;
  return asList((principal as { AWS?: unknown }).AWS).some((e) => principalCovers(e, accountId, userArn));
}

function statementActionMatches(st: Statement, action: string): boolean {
  if (st.Action !== undefined) return asList(st.Action).some((a) => typeof a === "string" && wildcardMatch(a, action));
  return !asList(st.NotAction).some((a) => typeof a === "string" && wildcardMatch(a, action));
}

/** Whether the repository policy lets `accountId`/`userArn` perform `action`. */
export function policyAllows(policyText: string | undefined, accountId: string, userArn: string, action: string): boolean {
  if (policyText === undefined) return false;
  const statements = parsePolicy(policyText);
  if (!statements) return false;
  const applicable = statements.filter(
    (s) => statementPrincipalMatches(s.Principal, accountId, userArn) && statementActionMatches(s, action),
  );
  if (applicable.some((s) => s.Effect === "Deny")) return false;
  return applicable.some((s) => s.Effect === "Allow" && s.Condition === undefined);
}

/**
 * The policy text as ECR stores and returns it: account-id principals written as their root ARN
 * (IAM's canonical form), pretty-printed the way AWS's Java JSON printer does (`"Key" : value`,
 * arrays on one line: `[ "a", "b" ]`). So the text GetRepositoryPolicy returns is not the text
 * SetRepositoryPolicy was given, and clients must compare policies by meaning.
 */
export function storedPolicyText(text: string): string {
  const doc = JSON.parse(text) as { Statement?: unknown };
  for (const statement of asList(doc.Statement)) {
    const principal = (statement as { Principal?: unknown }).Principal;
    if (typeof principal !== "object" || principal === null || !("AWS" in principal)) continue;
    const rootArn = (entry: unknown) => (typeof entry === "string" && /^\d{12}$/.test(entry) ? `arn:aws:iam::${entry}:root` : entry);
    const aws = (principal as { AWS: unknown }).AWS;
    (principal as { AWS: unknown }).AWS = Array.isArray(aws) ? aws.map(rootArn) : rootArn(aws);
  }
  return javaPretty(doc, "");
}

function javaPretty(value: unknown, indent: string): string {
  if (Array.isArray(value)) return value.length === 0 ? "[ ]" : `[ ${value.map((v) => javaPretty(v, indent)).join(", ")} ]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) return "{ }";
    const inner = `${indent}  `;
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)} : ${javaPretty(v, inner)}`).join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}
