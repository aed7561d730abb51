// Self-test of the emulator's ECR Public side: the real AWS SDK (@aws-sdk/client-ecr-public) and
// skopeo talk to it as they would to ECR Public, and it answers as AWS's ECR Public API reference
// says (members, limits, errors, the us-east-1 signing scope, the public registry's token endpoint).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CreateRepositoryCommand,
  DescribeRegistriesCommand,
  DescribeRepositoriesCommand,
  ECRPUBLICClient,
  GetAuthorizationTokenCommand,
  GetRepositoryCatalogDataCommand,
  PutRepositoryCatalogDataCommand,
  SetRepositoryPolicyCommand,
} from "@aws-sdk/client-ecr-public";
import { startEcrEmulator, type EcrEmulator, type EmulatorAccount } from "../support/ecr-emulator/index.js";

let emu: EcrEmulator;

function client(account: EmulatorAccount, region = "us-east-1"): ECRPUBLICClient {
  return new ECRPUBLICClient({ endpoint: emu.apiEndpoint, region, credentials: { accessKeyId: account.accessKeyId, secretAccessKey: account.secretAccessKey }, maxAttempts: 1 });
}

async function sdkError(p: Promise<unknown>, name: string): Promise<string> {
  try {
    await p;
  } catch (error) {
    assert.equal((error as { name?: string }).name, name, String(error));
    return (error as Error).message;
  }
  assert.fail(`expected ${name}`);
}

before(async () => {
  emu = await startEcrEmulator({ region: "eu-central-1" });
});
after(async () => {
  await emu?.stop();
});

void describe("ECR Public API (SpencerFrontendService, SigV4 ecr-public in us-east-1)", () => {
  it("signs only in us-east-1, whatever region the private side uses", async () => {
    await sdkError(client(emu.accounts.owner, "eu-central-1").send(new DescribeRegistriesCommand({})), "InvalidSignatureException");
    const registries = await client(emu.accounts.owner).send(new DescribeRegistriesCommand({}));
    assert.deepEqual(registries.registries?.[0]?.aliases?.map((a) => a.name), [emu.accounts.owner.publicAlias]);
  });

  it("CreateRepository with catalog data and DescribeRepositories answer ECR Public's shapes", async () => {
    const ecr = client(emu.accounts.owner);
    const created = await ecr.send(new CreateRepositoryCommand({ repositoryName: "shapes/app", catalogData: { description: "d", architectures: ["ARM 64"] }, tags: [{ Key: "k", Value: "v" }] }));
    assert.equal(created.repository?.repositoryUri, `public.ecr.aws/${emu.accounts.owner.publicAlias}/shapes/app`);
    assert.equal(created.repository?.repositoryArn, `arn:aws:ecr-public::${emu.accounts.owner.accountId}:repository/shapes/app`);
    assert.deepEqual(created.catalogData, { description: "d", architectures: ["ARM 64"] });
    assert.ok(created.repository?.createdAt instanceof Date);
    await sdkError(ecr.send(new CreateRepositoryCommand({ repositoryName: "shapes/app" })), "RepositoryAlreadyExistsException");
    await sdkError(ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ["shapes/none"] })), "RepositoryNotFoundException");
    // Another account's repository is not visible through this API.
    await sdkError(client(emu.accounts.other).send(new DescribeRepositoriesCommand({ registryId: emu.accounts.owner.accountId, repositoryNames: ["shapes/app"] })), "RepositoryNotFoundException");
  });

  it("checks members as AWS does: names of 2-205 characters, catalog text lengths, list sizes, tags, policies", async () => {
    const ecr = client(emu.accounts.owner);
    assert.match(await sdkError(ecr.send(new CreateRepositoryCommand({ repositoryName: "a".repeat(206) })), "InvalidParameterException"), /less than or equal to 205/);
    assert.match(await sdkError(ecr.send(new CreateRepositoryCommand({ repositoryName: "Upper" })), "InvalidParameterException"), /regular expression/);
    assert.match(await sdkError(ecr.send(new CreateRepositoryCommand({ repositoryName: "long-text", catalogData: { description: "x".repeat(1025) } })), "InvalidParameterException"), /catalogData\.description/);
    assert.match(
      await sdkError(ecr.send(new CreateRepositoryCommand({ repositoryName: "many", catalogData: { architectures: Array.from({ length: 51 }, (_, i) => `a${i}`) } })),
      "InvalidParameterException"),
      /catalogData\.architectures/,
    );
    await sdkError(ecr.send(new CreateRepositoryCommand({ repositoryName: "tagged", tags: [{ Key: "aws:x", Value: "y" }] })), "InvalidTagParameterException");
    await ecr.send(new CreateRepositoryCommand({ repositoryName: "policy" }));
    const withResource = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: "*", Action: "ecr-public:*", Resource: "*" }] });
    await sdkError(ecr.send(new SetRepositoryPolicyCommand({ repositoryName: "policy", policyText: withResource })), "InvalidParameterException");
  });

  it("PutRepositoryCatalogData replaces the whole catalog data; a repository without any answers RepositoryCatalogDataNotFoundException", async () => {
    const ecr = client(emu.accounts.owner);
    await ecr.send(new CreateRepositoryCommand({ repositoryName: "catalog/none" }));
    await sdkError(ecr.send(new GetRepositoryCatalogDataCommand({ repositoryName: "catalog/none" })), "RepositoryCatalogDataNotFoundException");
    await ecr.send(new PutRepositoryCatalogDataCommand({ repositoryName: "catalog/none", catalogData: { description: "one", usageText: "u" } }));
    await ecr.send(new PutRepositoryCatalogDataCommand({ repositoryName: "catalog/none", catalogData: { description: "two" } }));
    assert.deepEqual((await ecr.send(new GetRepositoryCatalogDataCommand({ repositoryName: "catalog/none" }))).catalogData, { description: "two" });
  });

  it("GetAuthorizationToken needs ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken; its token is not a private registry's", async () => {
    const other = emu.accounts.other;
    const out = await client(other).send(new GetAuthorizationTokenCommand({}));
    const password = Buffer.from(out.authorizationData!.authorizationToken!, "base64").toString().replace(/^AWS:/, "");
    // Not accepted by the account's private registry.
    const privateAnswer = await fetch(`${emu.registryEndpoint(other.accountId)}/v2/`, { headers: { authorization: "Basic " + Buffer.from(`AWS:${password}`).toString("base64") } });
    assert.equal(privateAnswer.status, 401);
    // The public registry's token endpoint takes it.
    const token = await fetch(`${emu.publicRegistryEndpoint}/token/?service=public.ecr.aws&scope=aws`, { headers: { authorization: "Basic " + Buffer.from(`AWS:${password}`).toString("base64") } });
    assert.equal(token.status, 200);
    emu.deny(other.accountId, "sts:GetServiceBearerToken");
    assert.match(await sdkError(client(other).send(new GetAuthorizationTokenCommand({})), "AccessDeniedException"), /sts:GetServiceBearerToken/);
  });
});

void describe("ECR Public registry front", () => {
  it("challenges with a Bearer realm; the token endpoint gives anonymous tokens and refuses a bad password", async () => {
    const ping = await fetch(`${emu.publicRegistryEndpoint}/v2/`);
    assert.equal(ping.status, 401);
    assert.match(ping.headers.get("www-authenticate") ?? "", /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token\/",service="public\.ecr\.aws",scope="aws"$/);
    const anonymous = await fetch(`${emu.publicRegistryEndpoint}/token/?service=public.ecr.aws`);
    const { token } = (await anonymous.json()) as { token: string };
    assert.equal((await fetch(`${emu.publicRegistryEndpoint}/v2/`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    const bad = await fetch(`${emu.publicRegistryEndpoint}/token/`, { headers: { authorization: "Basic " + Buffer.from("AWS:nope").toString("base64") } });
    assert.equal(bad.status, 401);
    // A repository that was not created: NAME_UNKNOWN, for anyone.
    const missing = await fetch(`${emu.publicRegistryEndpoint}/v2/${emu.accounts.owner.publicAlias}/nothing/manifests/latest`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /NAME_UNKNOWN/);
  });
});
