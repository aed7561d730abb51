// The ECR emulator refuses what AWS refuses, so that product code cannot pass against it by relying
// on a friendlier ECR: lifecycle policies (ECR's rules, ECR's error type and words), token
// registryIds, repository policies (length, Resource, principals that exist); and it can throttle
// as ECR does. (The namespaced __type of authentication failures: test/support-selftest.) Driven by the real AWS SDK.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateRepositoryCommand, DescribeRepositoriesCommand, ECRClient, GetAuthorizationTokenCommand, PutLifecyclePolicyCommand, SetRepositoryPolicyCommand } from "@aws-sdk/client-ecr";
import { startEcrEmulator, type EcrEmulator } from "../support/ecr-emulator/index.js";

let emu: EcrEmulator;
let ecr: ECRClient;

/** The SDK error's name and message, or "accepted". */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "accepted";
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

before(async () => {
  emu = await startEcrEmulator();
  const owner = emu.accounts.owner;
  ecr = new ECRClient({ endpoint: emu.apiEndpoint, region: emu.region, credentials: { accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey }, maxAttempts: 1 });
  await ecr.send(new CreateRepositoryCommand({ repositoryName: "team/lifecycle" }));
});
after(async () => {
  ecr?.destroy();
  await emu?.stop();
});

describe("ECR emulator: PutLifecyclePolicy as strict as ECR", () => {
  const put = (policy: unknown): Promise<string> =>
    outcome(ecr.send(new PutLifecyclePolicyCommand({ repositoryName: "team/lifecycle", lifecyclePolicyText: JSON.stringify(policy, null, 2) })));
  const rule = (rulePriority: number, selection: Record<string, unknown>, action: Record<string, unknown> = { type: "expire" }) => ({ rulePriority, selection, action });

  it("accepts the documented examples", async () => {
    assert.equal(await put({ rules: [rule(1, { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 14 })] }), "accepted");
    assert.equal(
      await put({ rules: [rule(1, { tagStatus: "tagged", tagPatternList: ["prod*"], countType: "imageCountMoreThan", countNumber: 1 }), rule(2, { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 100 })] }),
      "accepted",
    );
  });

  it("refuses `tagStatus: any` without countType/countNumber with ECR's InvalidParameterException and words", async () => {
    assert.equal(
      await put({ rules: [rule(1, { tagStatus: "any" })] }),
      `InvalidParameterException: Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: object has missing required properties (["countNumber","countType"])'`,
    );
  });

  it("refuses each kind of document ECR refuses", async () => {
    const refused: [unknown, RegExp][] = [
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 0 })] }, /lower than the required minimum \(minimum: 1, found: 0\)/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 3 }), rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 5 })] }, /rulePriority 1 is used more than once/],
      [{ rules: [rule(1, { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 3 }), rule(2, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 5 })] }, /tagStatus any must have the highest rulePriority/],
      [{ rules: [rule(1, { tagStatus: "tagged", countType: "imageCountMoreThan", countNumber: 3 })] }, /tagPrefixList or tagPatternList is required/],
      [{ rules: [rule(1, { tagStatus: "untagged", tagPatternList: ["x*"], countType: "imageCountMoreThan", countNumber: 3 })] }, /can only be used when tagStatus is tagged/],
      [{ rules: [rule(1, { tagStatus: "tagged", tagPatternList: ["*a*b*c*d*"], countType: "imageCountMoreThan", countNumber: 3 })] }, /more than 4 wildcards/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "sinceImagePushed", countNumber: 3 })] }, /countUnit is required/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countUnit: "days", countNumber: 3 })] }, /countUnit can only be used/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 3 }, { type: "delete" })] }, /instance value \("delete"\) not found in enum/],
      [{ rules: [rule(1, { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 3, extra: 1 })] }, /not allowed by the schema: \(\["extra"\]\)/],
    ];
    for (const [policy, expected] of refused) {
      const answer = await put(policy);
      assert.match(answer, /^InvalidParameterException: Invalid parameter at 'LifecyclePolicyText'/, JSON.stringify(policy));
      assert.match(answer, expected, JSON.stringify(policy));
    }
    assert.match(await outcome(ecr.send(new PutLifecyclePolicyCommand({ repositoryName: "team/lifecycle", lifecyclePolicyText: '{"rules":[]}' }))), /^InvalidParameterException: .*lifecyclePolicyText.*length greater than or equal to 100/);
  });
});

describe("ECR emulator: other inputs AWS checks", () => {
  it("GetAuthorizationToken: registryIds are 1 to 10 ids of 12 digits", async () => {
    assert.match(await outcome(ecr.send(new GetAuthorizationTokenCommand({ registryIds: ["12345"] }))), /^InvalidParameterException: .*registryIds.*\[0-9\]\{12\}/);
    assert.match(await outcome(ecr.send(new GetAuthorizationTokenCommand({ registryIds: [] }))), /^InvalidParameterException: .*between 1 and 10/);
    assert.equal(await outcome(ecr.send(new GetAuthorizationTokenCommand({ registryIds: [emu.accounts.owner.accountId] }))), "accepted");
  });

  it("SetRepositoryPolicy: a policy over 10240 characters is InvalidParameterException", async () => {
    const principals = Array.from({ length: 400 }, (_, i) => `arn:aws:iam::${String(300000000000 + i)}:root`);
    const policyText = JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "many", Effect: "Allow", Principal: { AWS: principals }, Action: ["ecr:BatchGetImage"] }] });
    assert.ok(policyText.length > 10240);
    assert.match(await outcome(ecr.send(new SetRepositoryPolicyCommand({ repositoryName: "team/lifecycle", policyText }))), /^InvalidParameterException: .*policyText.*less than or equal to 10240/);
  });

  it("SetRepositoryPolicy: no Resource element, and only IAM roles and users that exist ('Principal not found')", async () => {
    const set = (statement: Record<string, unknown>): Promise<string> =>
      outcome(ecr.send(new SetRepositoryPolicyCommand({ repositoryName: "team/lifecycle", policyText: JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "s", Effect: "Allow", Action: ["ecr:BatchGetImage"], ...statement }] }) })));
    assert.equal(await set({ Principal: { AWS: "arn:aws:iam::333333333333:root" }, Resource: "*" }), "InvalidParameterException: Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'");
    const role = "arn:aws:iam::333333333333:role/deployer";
    assert.equal(await set({ Principal: { AWS: [role] } }), "InvalidParameterException: Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'");
    emu.addIamPrincipal(role);
    assert.equal(await set({ Principal: { AWS: [role, "333333333333", emu.accounts.other.userArn] } }), "accepted");
  });

  it("CreateRepository: at most 50 tags, none in the aws: namespace, AWS's tag characters", async () => {
    const create = (tags: { Key: string; Value: string }[]): Promise<string> => outcome(ecr.send(new CreateRepositoryCommand({ repositoryName: "team/tagged", tags })));
    assert.match(await create(Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: "v" }))), /^TooManyTagsException: /);
    assert.match(await create([{ Key: "aws:team", Value: "ml" }]), /^InvalidTagParameterException: .*reserved/);
    assert.match(await create([{ Key: "team#1", Value: "ml" }]), /^InvalidTagParameterException: /);
    assert.equal(emu.repository("team/tagged"), undefined);
    assert.equal(await create([{ Key: "team", Value: "ml/a:b=c+d@e f" }]), "accepted");
  });

  it("throttles on request: ThrottlingException, which the SDK's own retries ride out", async () => {
    emu.throttle("DescribeRepositories", 1);
    assert.equal(await outcome(ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ["team/lifecycle"] }))), "ThrottlingException: Rate exceeded");
    emu.throttle("DescribeRepositories", 2);
    const owner = emu.accounts.owner;
    const retrying = new ECRClient({ endpoint: emu.apiEndpoint, region: emu.region, credentials: { accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey }, maxAttempts: 3 });
    try {
      const answer = await retrying.send(new DescribeRepositoriesCommand({ repositoryNames: ["team/lifecycle"] }));
      assert.equal(answer.repositories?.[0]?.repositoryName, "team/lifecycle");
      assert.equal(answer.$metadata.attempts, 3);
    } finally {
      retrying.destroy();
    }
  });
});
