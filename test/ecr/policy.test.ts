// The cross-account pull statement merged into a repository policy: by Sid, additive, idempotent,
// other statements and fields untouched.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mergePullPolicy, principalArn, PULL_ACTIONS, PULL_STATEMENT_SID } from "../../src/ecr/index.js";
import { EcrError } from "../../src/ecr/errors.js";

type Doc = { Version: string; Statement: { Sid?: string; Effect: string; Principal: { AWS: string | string[] }; Action: string | string[]; Condition?: unknown }[]; Id?: string };
const parse = (text: string): Doc => JSON.parse(text) as Doc;

describe("mergePullPolicy", () => {
  it("creates a policy with one statement when there is none", () => {
    const merged = mergePullPolicy(undefined, ["210987654321", "arn:aws:iam::123456789012:role/deployer"]);
    assert.equal(merged.changed, true);
    const doc = parse(merged.text);
    assert.equal(doc.Version, "2012-10-17");
    assert.deepEqual(doc.Statement, [
      {
        Sid: PULL_STATEMENT_SID,
        Effect: "Allow",
        Principal: { AWS: ["arn:aws:iam::123456789012:role/deployer", "arn:aws:iam::210987654321:root"] },
        Action: [...PULL_ACTIONS],
      },
    ]);
  });

  it("is idempotent: merging the result again changes nothing", () => {
    const once = mergePullPolicy(undefined, ["210987654321"]);
    const twice = mergePullPolicy(once.text, ["210987654321"]);
    assert.equal(twice.changed, false);
    // Key order and spacing of what AWS hands back do not matter either.
    const reordered = JSON.stringify({ Statement: [{ Action: [...PULL_ACTIONS].reverse(), Principal: { AWS: "arn:aws:iam::210987654321:root" }, Effect: "Allow", Sid: PULL_STATEMENT_SID }], Version: "2012-10-17" });
    assert.equal(mergePullPolicy(reordered, ["210987654321"]).changed, false);
  });

  it("keeps other statements and document fields exactly, and adds principals to its own statement", () => {
    const other = { Sid: "CI", Effect: "Allow", Principal: { AWS: "arn:aws:iam::111111111111:role/ci" }, Action: "ecr:*", Condition: { StringEquals: { "aws:PrincipalOrgID": "o-1" } } };
    const existing = JSON.stringify({ Version: "2008-10-17", Id: "keep-me", Statement: [other, { Sid: PULL_STATEMENT_SID, Effect: "Allow", Principal: { AWS: "arn:aws:iam::210987654321:root" }, Action: [...PULL_ACTIONS] }] });
    const merged = mergePullPolicy(existing, ["333333333333"]);
    assert.equal(merged.changed, true);
    const doc = parse(merged.text);
    assert.equal(doc.Version, "2008-10-17");
    assert.equal(doc.Id, "keep-me");
    assert.deepEqual(doc.Statement[0], other);
    assert.deepEqual(doc.Statement[1]!.Principal.AWS, ["arn:aws:iam::210987654321:root", "arn:aws:iam::333333333333:root"]);
    assert.equal(doc.Statement.length, 2);
  });

  it("repairs its own statement when someone narrowed it (a condition, fewer actions)", () => {
    const narrowed = JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: PULL_STATEMENT_SID, Effect: "Allow", Principal: { AWS: ["arn:aws:iam::210987654321:root"] }, Action: ["ecr:BatchGetImage"] }] });
    const merged = mergePullPolicy(narrowed, ["210987654321"]);
    assert.equal(merged.changed, true);
    assert.deepEqual(parse(merged.text).Statement[0]!.Action, [...PULL_ACTIONS]);
  });

  it("uses the registry's partition for account principals", () => {
    assert.equal(principalArn("210987654321", "aws-cn"), "arn:aws-cn:iam::210987654321:root");
    assert.equal(principalArn("arn:aws:iam::210987654321:role/x"), "arn:aws:iam::210987654321:role/x");
  });

  it("refuses to rewrite a policy it cannot read", () => {
    assert.throws(() => mergePullPolicy("{not json", ["210987654321"]), (e: unknown) => e instanceof EcrError && e.code === "ECR_POLICY_INVALID");
  });
});
