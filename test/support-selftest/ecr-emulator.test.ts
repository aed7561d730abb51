// Self-test of the ECR emulator in test/support/ecr-emulator/: the real AWS SDK and skopeo talk to
// it as they would to Amazon ECR, and it answers as ECR does (shapes, errors, auth, registry quirks).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CreateRepositoryCommand,
  DeleteRepositoryCommand,
  DeleteRepositoryPolicyCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  GetLifecyclePolicyCommand,
  GetRepositoryPolicyCommand,
  PutLifecyclePolicyCommand,
  SetRepositoryPolicyCommand,
} from "@aws-sdk/client-ecr";
import { startEcrEmulator, type EcrEmulator, type EmulatorAccount } from "../support/ecr-emulator/index.js";
import { policyAllows } from "../support/ecr-emulator/policy.js";
import { makeTestImage, removeDir, sha256, skopeo, tempDir, type RunResult, type TestImage } from "../support/tools.js";

function ok(r: RunResult): RunResult {
  assert.equal(r.code, 0, `command failed (${r.code}): ${r.stderr}`);
  return r;
}

function failed(r: RunResult): string {
  assert.notEqual(r.code, 0, `command should have failed; stdout: ${r.stdout}`);
  assert.equal(r.timedOut, false);
  return r.stderr;
}

let emu: EcrEmulator;
let image: TestImage;
let image2: TestImage;

function client(account: EmulatorAccount, secret = account.secretAccessKey, accessKeyId = account.accessKeyId): ECRClient {
  return new ECRClient({
    endpoint: emu.apiEndpoint,
    region: emu.region,
    credentials: { accessKeyId, secretAccessKey: secret },
    maxAttempts: 1,
  });
}

async function password(account: EmulatorAccount): Promise<string> {
  const out = await client(account).send(new GetAuthorizationTokenCommand({}));
  const decoded = Buffer.from(out.authorizationData![0]!.authorizationToken!, "base64").toString();
  assert.ok(decoded.startsWith("AWS:"));
  return decoded.slice(4);
}

const basic = (pw: string) => ({ authorization: "Basic " + Buffer.from(`AWS:${pw}`).toString("base64") });
const hostOf = (account?: string) => emu.registryEndpoint(account).replace(/^http:\/\//, "");
const ref = (name: string, account?: string) => `docker://${hostOf(account)}/${name}`;
const destArgs = (pw: string) => ["--dest-creds", `AWS:${pw}`, "--dest-tls-verify=false"];
const srcArgs = (pw: string) => ["--creds", `AWS:${pw}`, "--tls-verify=false"];

/** Asserts that `p` rejects with an SDK error named `name`, and returns its message. */
async function sdkError(p: Promise<unknown>, name: string): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.equal((e as Error).name, name, String(e));
    return (e as Error).message;
  }
  assert.fail(`expected ${name}`);
}

before(async () => {
  emu = await startEcrEmulator();
  image = await makeTestImage({ busybox: false, layers: [{ "etc/selftest.txt": "hello ecr\n" }] });
  image2 = await makeTestImage({ busybox: false, layers: [{ "etc/selftest.txt": "other content\n" }] });
});
after(async () => {
  await emu?.stop();
  await image?.cleanup();
  await image2?.cleanup();
});

void describe("ECR API (AWS JSON 1.1, SigV4)", () => {
  it("CreateRepository and DescribeRepositories answer ECR's shapes", async () => {
    const ecr = client(emu.accounts.owner);
    const created = await ecr.send(
      new CreateRepositoryCommand({
        repositoryName: "team/img",
        imageTagMutability: "IMMUTABLE",
        imageScanningConfiguration: { scanOnPush: true },
        tags: [{ Key: "owner", Value: "selftest" }],
      }),
    );
    const repo = created.repository!;
    assert.equal(repo.repositoryArn, "arn:aws:ecr:us-east-1:111111111111:repository/team/img");
    assert.equal(repo.registryId, "111111111111");
    assert.equal(repo.repositoryUri, "111111111111.dkr.ecr.us-east-1.amazonaws.com/team/img");
    assert.equal(repo.imageTagMutability, "IMMUTABLE");
    assert.deepEqual(repo.imageScanningConfiguration, { scanOnPush: true });
    assert.deepEqual(repo.encryptionConfiguration, { encryptionType: "AES256" });
    assert.ok(repo.createdAt instanceof Date && Math.abs(repo.createdAt.getTime() - Date.now()) < 10_000);

    const described = await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ["team/img"] }));
    assert.equal(described.repositories?.length, 1);
    assert.equal(described.repositories![0]!.repositoryArn, repo.repositoryArn);
    assert.deepEqual(emu.repository("team/img")?.tags, [{ Key: "owner", Value: "selftest" }]);

    const excl = await ecr.send(
      new CreateRepositoryCommand({
        repositoryName: "team/excl",
        imageTagMutability: "IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters: [{ filterType: "WILDCARD", filter: "latest*" }],
      }),
    );
    assert.deepEqual(excl.repository?.imageTagMutabilityExclusionFilters, [{ filterType: "WILDCARD", filter: "latest*" }]);
    assert.ok(emu.calls.some((c) => c.operation === "CreateRepository" && c.account === "111111111111"));
  });

  it("answers ECR's modelled errors", async () => {
    const ecr = client(emu.accounts.owner);
    const missing = await sdkError(ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ["team/nope"] })), "RepositoryNotFoundException");
    assert.equal(missing, "The repository with name 'team/nope' does not exist in the registry with id '111111111111'");
    await sdkError(ecr.send(new CreateRepositoryCommand({ repositoryName: "team/img" })), "RepositoryAlreadyExistsException");
    const bad = await sdkError(ecr.send(new CreateRepositoryCommand({ repositoryName: "Team/Img" })), "InvalidParameterException");
    assert.match(bad, /repositoryName/);
    await sdkError(
      ecr.send(new CreateRepositoryCommand({ repositoryName: "team/x", imageTagMutability: "MUTABLE_WITH_EXCLUSION" })),
      "InvalidParameterException",
    );
  });

  it("sets, gets and deletes repository and lifecycle policies", async () => {
    const ecr = client(emu.accounts.owner);
    await ecr.send(new CreateRepositoryCommand({ repositoryName: "team/policies" }));
    await sdkError(ecr.send(new GetRepositoryPolicyCommand({ repositoryName: "team/policies" })), "RepositoryPolicyNotFoundException");
    const policyText = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Sid: "pull", Effect: "Allow", Principal: { AWS: "arn:aws:iam::222222222222:root" }, Action: ["ecr:BatchGetImage"] }],
    });
    const set = await ecr.send(new SetRepositoryPolicyCommand({ repositoryName: "team/policies", policyText }));
    assert.equal(set.registryId, "111111111111");
    const got = await ecr.send(new GetRepositoryPolicyCommand({ repositoryName: "team/policies" }));
    // Stored as AWS stores it: same meaning, AWS's own formatting.
    assert.deepEqual(JSON.parse(got.policyText!), JSON.parse(policyText));
    assert.match(got.policyText!, /^\{\n {2}"Version" : "2012-10-17",\n {2}"Statement" : \[ \{\n {4}"Sid" : "pull",/);
    assert.match(got.policyText!, /"Action" : \[ "ecr:BatchGetImage" \]/);
    await sdkError(ecr.send(new SetRepositoryPolicyCommand({ repositoryName: "team/policies", policyText: "{" })), "InvalidParameterException");
    await ecr.send(new DeleteRepositoryPolicyCommand({ repositoryName: "team/policies" }));
    assert.equal(emu.repository("team/policies")?.policyText, undefined);

    await sdkError(ecr.send(new GetLifecyclePolicyCommand({ repositoryName: "team/policies" })), "LifecyclePolicyNotFoundException");
    const lifecyclePolicyText = JSON.stringify({
      rules: [{ rulePriority: 1, selection: { tagStatus: "untagged", countType: "imageCountMoreThan", countNumber: 5 }, action: { type: "expire" } }],
    });
    await ecr.send(new PutLifecyclePolicyCommand({ repositoryName: "team/policies", lifecyclePolicyText }));
    const lc = await ecr.send(new GetLifecyclePolicyCommand({ repositoryName: "team/policies" }));
    assert.equal(lc.lifecyclePolicyText, lifecyclePolicyText);
    assert.ok(lc.lastEvaluatedAt instanceof Date);
    await ecr.send(new DeleteRepositoryCommand({ repositoryName: "team/policies" }));
    assert.equal(emu.repository("team/policies"), undefined);
  });

  it("GetAuthorizationToken gives a Basic token for the account's registry", async () => {
    const out = await client(emu.accounts.owner).send(new GetAuthorizationTokenCommand({}));
    const data = out.authorizationData![0]!;
    assert.equal(data.proxyEndpoint, "https://111111111111.dkr.ecr.us-east-1.amazonaws.com");
    assert.equal(emu.registryHost(), "111111111111.dkr.ecr.us-east-1.amazonaws.com");
    assert.match(Buffer.from(data.authorizationToken!, "base64").toString(), /^AWS:.{20,}$/);
    const ttl = data.expiresAt!.getTime() - Date.now();
    assert.ok(ttl > 11.9 * 3600_000 && ttl <= 12 * 3600_000, String(ttl));
  });

  it("verifies SigV4: wrong secret, unknown key, no signature", async () => {
    const msg = await sdkError(
      client(emu.accounts.owner, "wrong-secret").send(new DescribeRepositoriesCommand({})),
      "InvalidSignatureException",
    );
    assert.match(msg, /^The request signature we calculated does not match/);
    const unknown = await sdkError(
      client(emu.accounts.owner, "x", "AKIAUNKNOWNKEY000000").send(new DescribeRepositoriesCommand({})),
      "UnrecognizedClientException",
    );
    assert.equal(unknown, "The security token included in the request is invalid.");
    const raw = await fetch(emu.apiEndpoint + "/", {
      method: "POST",
      headers: { "x-amz-target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories", "content-type": "application/x-amz-json-1.1" },
      body: "{}",
    });
    // Refused at AWS's front door, before ECR: the coral namespace, as AWS sends it.
    assert.equal(raw.headers.get("x-amzn-errortype"), "MissingAuthenticationTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/");
    assert.equal(((await raw.json()) as { __type: string }).__type, "com.amazon.coral.service#MissingAuthenticationTokenException");
    // The other account signs correctly with its own key.
    await client(emu.accounts.other).send(new DescribeRepositoriesCommand({}));
  });

  it("deny() turns an action into AccessDeniedException", async () => {
    const ecr = client(emu.accounts.other);
    await ecr.send(new CreateRepositoryCommand({ repositoryName: "mine/first" }));
    emu.deny("222222222222", "ecr:CreateRepository");
    const msg = await sdkError(ecr.send(new CreateRepositoryCommand({ repositoryName: "mine/second" })), "AccessDeniedException");
    assert.equal(
      msg,
      "User: arn:aws:iam::222222222222:user/imagespec-test is not authorized to perform: ecr:CreateRepository on resource: arn:aws:ecr:us-east-1:222222222222:repository/mine/second because no identity-based policy allows the ecr:CreateRepository action",
    );
    assert.equal(emu.repository("mine/second", "222222222222"), undefined);
  });

  it("env() holds exactly what a product process needs", () => {
    assert.deepEqual(Object.keys(emu.env()).sort(), ["AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL_ECR_PUBLIC", "AWS_REGION", "AWS_SECRET_ACCESS_KEY"]);
    assert.equal(emu.env(emu.accounts.other).AWS_ACCESS_KEY_ID, emu.accounts.other.accessKeyId);
  });
});

void describe("ECR registry front", () => {
  let ownerPw: string;
  let otherPw: string;
  before(async () => {
    ownerPw = await password(emu.accounts.owner);
    otherPw = await password(emu.accounts.other);
  });

  it("challenges anonymous clients with ECR's Basic realm", async () => {
    const res = await fetch(emu.registryEndpoint() + "/v2/");
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Basic realm="https://111111111111.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"');
    const other = await fetch(emu.registryEndpoint("222222222222") + "/v2/", { headers: basic("not-a-token") });
    assert.equal(other.status, 401);
    assert.match(other.headers.get("www-authenticate") ?? "", /realm="https:\/\/222222222222\.dkr\.ecr\.us-east-1\.amazonaws\.com\/"/);
    const authed = await fetch(emu.registryEndpoint() + "/v2/", { headers: basic(ownerPw) });
    assert.equal(authed.status, 200);
  });

  it("refuses pushes to a repository that was not created; NAME_UNKNOWN for reads", async () => {
    const e = failed(await skopeo(["copy", ...destArgs(ownerPw), image.ref, ref("team/uncreated:v1")], { timeoutMs: 60_000 }));
    assert.ok(e.length > 0);
    assert.ok(emu.registryRequests.some((r) => r.method === "POST" && r.path.startsWith("/v2/team/uncreated/blobs/uploads/") && r.status === 0));
    const res = await fetch(emu.registryEndpoint() + "/v2/team/uncreated/manifests/v1", { headers: basic(ownerPw) });
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), {
      errors: [{ code: "NAME_UNKNOWN", message: "The repository with name 'team/uncreated' does not exist in the registry with id '111111111111'" }],
    });
  });

  it("skopeo pushes into a created repository; ECR's PATCH 201 and no Location on manifest PUT", async () => {
    const before = emu.registryRequests.length;
    ok(await skopeo(["copy", ...destArgs(ownerPw), image.ref, ref("team/img:v1")]));
    const reqs = emu.registryRequests.slice(before);
    assert.ok(reqs.some((r) => r.method === "PATCH" && r.status === 201), JSON.stringify(reqs));
    assert.ok(reqs.some((r) => r.method === "PUT" && r.path === "/v2/team/img/manifests/v1" && r.status === 201));
    assert.ok(reqs.every((r) => r.status === 401 || r.account === "111111111111"));
    const raw = ok(await skopeo(["inspect", "--raw", ...srcArgs(ownerPw), ref("team/img:v1")]));
    assert.equal(sha256(raw.stdout), image.manifest.digest);

    // Raw manifest PUT (digest reference): 201 with no Location, the name never shows the account prefix.
    const put = await fetch(`${emu.registryEndpoint()}/v2/team/img/manifests/${image.manifest.digest}`, {
      method: "PUT",
      headers: { ...basic(ownerPw), "content-type": image.manifest.mediaType },
      body: image.manifestBytes,
    });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get("location"), null);
    const tags = await fetch(`${emu.registryEndpoint()}/v2/team/img/tags/list`, { headers: basic(ownerPw) });
    assert.deepEqual(await tags.json(), { name: "team/img", tags: ["v1"] });
  });

  it("refuses to overwrite a tag in an IMMUTABLE repository (TAG_INVALID), whatever the digest", async () => {
    const e = failed(await skopeo(["copy", ...destArgs(ownerPw), image2.ref, ref("team/img:v1")]));
    assert.match(e, /already exists in the 'team\/img' repository and cannot be overwritten/);
    const same = await fetch(`${emu.registryEndpoint()}/v2/team/img/manifests/v1`, {
      method: "PUT",
      headers: { ...basic(ownerPw), "content-type": image.manifest.mediaType },
      body: image.manifestBytes,
    });
    assert.equal(same.status, 400);
    assert.deepEqual(await same.json(), {
      errors: [
        {
          code: "TAG_INVALID",
          message: "The image tag 'v1' already exists in the 'team/img' repository and cannot be overwritten because the repository is immutable.",
        },
      ],
    });
    // IMMUTABLE_WITH_EXCLUSION: tags matching the exclusion stay mutable.
    ok(await skopeo(["copy", ...destArgs(ownerPw), image.ref, ref("team/excl:latest-dev")]));
    ok(await skopeo(["copy", ...destArgs(ownerPw), image2.ref, ref("team/excl:latest-dev")]));
    ok(await skopeo(["copy", ...destArgs(ownerPw), image.ref, ref("team/excl:v1")]));
    failed(await skopeo(["copy", ...destArgs(ownerPw), image2.ref, ref("team/excl:v1")]));
  });

  it("refuses a non-final chunk under 5 MiB and advertises OCI-Chunk-Min-Length", async () => {
    const h = basic(ownerPw);
    const start = await fetch(`${emu.registryEndpoint()}/v2/team/img/blobs/uploads/`, { method: "POST", headers: h });
    assert.equal(start.status, 202);
    assert.equal(start.headers.get("oci-chunk-min-length"), "5242880");
    const loc1 = start.headers.get("location")!;
    assert.match(loc1, /\/v2\/team\/img\/blobs\/uploads\//);
    const p1 = await fetch(new URL(loc1, emu.registryEndpoint()), {
      method: "PATCH",
      headers: { ...h, "content-type": "application/octet-stream", "content-range": "0-1023" },
      body: Buffer.alloc(1024, 1),
    });
    assert.equal(p1.status, 201);
    const loc2 = p1.headers.get("location")!;
    const p2 = await fetch(new URL(loc2, emu.registryEndpoint()), {
      method: "PATCH",
      headers: { ...h, "content-type": "application/octet-stream", "content-range": "1024-2047" },
      body: Buffer.alloc(1024, 2),
    });
    assert.equal(p2.status, 400);
    const body = (await p2.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, "BLOB_UPLOAD_INVALID");
    assert.match(body.errors[0]!.message, /5242880/);
  });

  it("another account cannot pull until the repository policy allows it, and never pushes", async () => {
    const other = emu.accounts.other;
    const e = failed(await skopeo(["inspect", "--raw", ...srcArgs(otherPw), ref("team/img:v1")]));
    assert.match(e, /denied|not authorized/i);
    const res = await fetch(`${emu.registryEndpoint()}/v2/team/img/manifests/v1`, {
      headers: { ...basic(otherPw), accept: image.manifest.mediaType },
    });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), {
      errors: [
        {
          code: "DENIED",
          message:
            "User: arn:aws:iam::222222222222:user/imagespec-test is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:111111111111:repository/team/img because no resource-based policy allows the ecr:BatchGetImage action",
        },
      ],
    });
    await client(emu.accounts.owner).send(
      new SetRepositoryPolicyCommand({
        repositoryName: "team/img",
        policyText: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "CrossAccountPull",
              Effect: "Allow",
              Principal: { AWS: [`arn:aws:iam::${other.accountId}:root`] },
              Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            },
          ],
        }),
      }),
    );
    const before = emu.registryRequests.length;
    const raw = ok(await skopeo(["inspect", ...srcArgs(otherPw), ref("team/img:v1")]));
    assert.equal((JSON.parse(raw.stdout) as { Digest: string }).Digest, image.manifest.digest);
    assert.ok(emu.registryRequests.slice(before).some((r) => r.account === other.accountId && r.status === 200));
    const push = failed(await skopeo(["copy", ...destArgs(otherPw), image2.ref, ref("team/img:intruder")]));
    assert.match(push, /denied|not authorized|403/i);
    // The same policy does not open the API: DescribeRepositories across accounts is still denied.
    await sdkError(
      client(other).send(new DescribeRepositoriesCommand({ registryId: "111111111111", repositoryNames: ["team/img"] })),
      "AccessDeniedException",
    );
  });

  it("repository policy principals: account id, root, IAM ARNs of the account, lists, '*'", () => {
    const doc = (principal: unknown, action: unknown = "ecr:BatchGetImage", effect = "Allow") =>
      JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: effect, Principal: principal, Action: action }] });
    const user = "arn:aws:iam::222222222222:user/imagespec-test";
    const allows = (text: string, action = "ecr:BatchGetImage") => policyAllows(text, "222222222222", user, action);
    assert.ok(allows(doc({ AWS: "222222222222" })));
    assert.ok(allows(doc({ AWS: "arn:aws:iam::222222222222:root" })));
    assert.ok(allows(doc({ AWS: ["arn:aws:iam::333333333333:root", "arn:aws:iam::222222222222:role/ci"] })));
    assert.ok(allows(doc("*")));
    assert.ok(allows(doc({ AWS: "*" }, "ecr:*"), "ecr:GetDownloadUrlForLayer"));
    assert.ok(!allows(doc({ AWS: "arn:aws:iam::333333333333:root" })));
    assert.ok(!allows(doc({ AWS: "222222222222" }), "ecr:PutImage"));
    assert.ok(!allows(doc({ AWS: "222222222222" }, "ecr:*", "Deny")));
  });

  it("refuses expired tokens with ECR's message", async () => {
    emu.expireTokens();
    const res = await fetch(`${emu.registryEndpoint()}/v2/team/img/tags/list`, { headers: basic(ownerPw) });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { errors: [{ code: "DENIED", message: "Your authorization token has expired. Reauthenticate and try again." }] });
    failed(await skopeo(["inspect", "--raw", ...srcArgs(ownerPw), ref("team/img:v1")]));
    // A fresh token works again.
    ok(await skopeo(["inspect", "--raw", ...srcArgs(await password(emu.accounts.owner)), ref("team/img:v1")]));
  });
});

void describe("ECR registry front with redirectBlobs", () => {
  it("answers blob GETs with a 307 to a presigned URL that clients follow", async () => {
    const red = await startEcrEmulator({ redirectBlobs: true });
    const out = await tempDir();
    try {
      const owner = red.accounts.owner;
      const ecr = new ECRClient({ endpoint: red.apiEndpoint, region: red.region, credentials: owner, maxAttempts: 1 });
      await ecr.send(new CreateRepositoryCommand({ repositoryName: "team/redirect" }));
      const token = await ecr.send(new GetAuthorizationTokenCommand({}));
      const pw = Buffer.from(token.authorizationData![0]!.authorizationToken!, "base64").toString().slice(4);
      const dest = `docker://${red.registryEndpoint().slice("http://".length)}/team/redirect:v1`;
      ok(await skopeo(["copy", ...destArgs(pw), image.ref, dest]));
      ok(await skopeo(["copy", "--src-creds", `AWS:${pw}`, "--src-tls-verify=false", dest, `oci:${out}:back`]));
      const reqs = red.registryRequests;
      assert.ok(reqs.some((r) => r.method === "GET" && r.path.includes("/blobs/sha256:") && r.status === 307), JSON.stringify(reqs));
      assert.ok(reqs.some((r) => r.method === "GET" && r.path.startsWith("/s3/") && r.status === 200));
      // The presigned URL only works with its signature.
      const s3 = reqs.find((r) => r.path.startsWith("/s3/"))!;
      const forged = await fetch(red.registryEndpoint() + s3.path.replace(/X-Amz-Signature=[0-9a-f]+/, "X-Amz-Signature=00"));
      assert.equal(forged.status, 403);

      // DeleteRepository: refused while it holds images, unless forced; the images go with it.
      await sdkError(ecr.send(new DeleteRepositoryCommand({ repositoryName: "team/redirect" })), "RepositoryNotEmptyException");
      await ecr.send(new DeleteRepositoryCommand({ repositoryName: "team/redirect", force: true }));
      await ecr.send(new CreateRepositoryCommand({ repositoryName: "team/redirect" }));
      const tags = await fetch(`${red.registryEndpoint()}/v2/team/redirect/tags/list`, { headers: basic(pw) });
      assert.deepEqual(await tags.json(), { name: "team/redirect", tags: [] });
    } finally {
      await red.stop();
      await removeDir(out);
    }
    // stop() ends the docker-registry it started.
    assert.throws(() => process.kill(red.backend.pid, 0));
  });
});
