// The cross-account pull statement merged into a repository policy: by Sid, additive, idempotent,
// other statements and fields untouched.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mergePullPolicy, principalArn, PULL_ACTIONS, PULL_STATEMENT_SID } from "../../src/ecr/index.js";
import { checkLifecyclePolicy, lifecyclePath, validateLifecyclePolicy } from "../../src/ecr/policy.js";
import { ecrSchema } from "../../src/ecr/spec-vendor.js";
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

describe("lifecycle policies, checked as ECR checks them", () => {
  const expire = { type: "expire" };
  const rule = (rulePriority: number, selection: Record<string, unknown>, action: Record<string, unknown> = expire) => ({ rulePriority, selection, action });
  const untagged14Days = rule(1, { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 14 });
  const problemsOf = (doc: unknown): string[] => checkLifecyclePolicy(doc).map((p) => `${lifecyclePath(p.path)}: ${p.message}`);

  it("accepts the documented forms: untagged by age, tagged by prefix or pattern, any last, archive transitions", () => {
    const accepted = [
      { rules: [untagged14Days] },
      { rules: [untagged14Days, rule(2, { tagStatus: "tagged", tagPrefixList: ["imagespec-cache-"], countType: "imageCountMoreThan", countNumber: 20 }), rule(3, { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 500 })] },
      { rules: [{ ...rule(5, { tagStatus: "tagged", tagPatternList: ["*test*1*2*3", "prod*"], countType: "sinceImagePushed", countUnit: "days", countNumber: 90 }), description: "old test images" }] },
      { rules: [rule(1, { tagStatus: "any", storageClass: "standard", countType: "sinceImagePulled", countUnit: "days", countNumber: 30 }, { type: "transition", targetStorageClass: "archive" })] },
    ];
    for (const doc of accepted) assert.deepEqual(problemsOf(doc), [], JSON.stringify(doc));
  });

  it("refuses `tagStatus: any` without countType and countNumber (the spec used to accept it and ECR refused it after the repository was made)", () => {
    assert.deepEqual(problemsOf({ rules: [rule(1, { tagStatus: "any" })] }), [
      'rules[0].selection.countType: countType is required: "imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"',
      "rules[0].selection.countNumber: countNumber is required: a whole number of 1 or more",
    ]);
  });

  it("refuses what ECR refuses, naming the place of each problem", () => {
    const refused: [unknown, RegExp][] = [
      [{}, /^rules: a lifecycle policy needs at least one rule/],
      [{ rules: [] }, /^rules: /],
      [{ rules: [untagged14Days, { ...untagged14Days }] }, /^rules\[1\]\.rulePriority: rulePriority 1 is also the priority of rules\[0\]/],
      [{ rules: [rule(0, untagged14Days.selection)] }, /^rules\[0\]\.rulePriority: rulePriority must be a whole number of 1 or more/],
      [{ rules: [rule(1, { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 5 }), rule(2, untagged14Days.selection)] }, /^rules\[0\]\.rulePriority: a rule with tagStatus "any" must have the highest rulePriority/],
      [{ rules: [rule(1, { tagStatus: "tagged", countType: "imageCountMoreThan", countNumber: 5 })] }, /^rules\[0\]\.selection\.tagStatus: tagStatus "tagged" needs a tagPatternList/],
      [{ rules: [rule(1, { tagStatus: "untagged", tagPrefixList: ["v"], countType: "imageCountMoreThan", countNumber: 5 })] }, /^rules\[0\]\.selection\.tagPrefixList: tagPrefixList only applies to tagStatus "tagged"/],
      [{ rules: [rule(1, { tagStatus: "tagged", tagPatternList: ["a*b*c*d*e*f"], countType: "imageCountMoreThan", countNumber: 5 })] }, /^rules\[0\]\.selection\.tagPatternList\[0\]: "a\*b\*c\*d\*e\*f" has more than 4 wildcards/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countUnit: "days", countNumber: 5 })] }, /^rules\[0\]\.selection\.countUnit: countUnit only applies to the sinceImage\* count types/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "sinceImagePushed", countNumber: 5 })] }, /^rules\[0\]\.selection\.countUnit: countType "sinceImagePushed" needs countUnit "days"/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "hours", countNumber: 5 })] }, /countUnit "days"/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 0 })] }, /^rules\[0\]\.selection\.countNumber: countNumber must be a whole number of 1 or more/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 5 }, { type: "delete" })] }, /^rules\[0\]\.action\.type: action type must be one of "expire", "transition"/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 5 }, { type: "transition" })] }, /^rules\[0\]\.action\.targetStorageClass: a transition needs targetStorageClass "archive"/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 5, tagStaus: "x" })] }, /^rules\[0\]\.selection\.tagStaus: unknown property/],
      [{ rules: [{ ...untagged14Days, priority: 1 }] }, /^rules\[0\]\.priority: unknown property/],
      [{ rules: [{ rulePriority: 1, action: expire }] }, /^rules\[0\]\.selection: selection is required/],
      [{ rules: [{ ...untagged14Days, description: "x".repeat(30_700) }] }, /the policy is longer than ECR's limit of 30720 characters/],
    ];
    for (const [doc, expected] of refused) {
      const problems = problemsOf(doc);
      assert.ok(problems.some((p) => expected.test(p)), `${JSON.stringify(doc)}: ${problems.join(" | ") || "accepted"}`);
    }
  });

  it("validateLifecyclePolicy throws INVALID_LIFECYCLE_POLICY (exit code 2) naming the field under ecr.lifecyclePolicy", () => {
    assert.throws(
      () => validateLifecyclePolicy({ rules: [rule(1, { tagStatus: "any" })] }),
      (e: unknown) => e instanceof EcrError && e.code === "INVALID_LIFECYCLE_POLICY" && /ecr\.lifecyclePolicy\.rules\[0\]\.selection\.countType/.test(e.message) && /nothing was changed/.test(e.hint ?? ""),
    );
  });

  it("the spec schema refuses such a policy when the spec is loaded", () => {
    const parsed = ecrSchema.safeParse({ lifecyclePolicy: { rules: [rule(1, { tagStatus: "any" })] } });
    assert.equal(parsed.success, false);
    const paths = parsed.error!.issues.map((i) => i.path.join("."));
    assert.deepEqual(paths, ["lifecyclePolicy.rules.0.selection.countType", "lifecyclePolicy.rules.0.selection.countNumber"]);
    assert.equal(ecrSchema.safeParse({ lifecyclePolicy: { rules: [untagged14Days] } }).success, true);
  });
});
