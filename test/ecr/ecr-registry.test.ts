// imagespec's ECR support against the ECR emulator, reached only through configuration: the
// SDK's AWS_ENDPOINT_URL_ECR for the API and a registry endpoint mapping for /v2/.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { stat, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ECRClient, SetRepositoryPolicyCommand } from "@aws-sdk/client-ecr";
import { EcrError, EcrSupport, EcrTokenCache, PULL_STATEMENT_SID, ecrSchema, type EcrOptions } from "../../src/ecr/index.js";
import { Keychain, Registry, RegistryError, type RegistryOptions } from "../../src/registry/index.js";
import { ImagespecError } from "../../src/errors.js";
import { compressToCache } from "../../src/layer/index.js";
import { imageFromParts } from "../../src/oci/index.js";
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { ecrFailureDiagnosis } from "../../src/ecr/diagnose.js";
import { startEcrEmulator, useEmulatorAwsEnv, type EcrEmulator } from "../support/ecr-emulator/index.js";
import { makeTestImage, removeDir, run, tempDir, type RunResult, type TestImage } from "../support/tools.js";

const root = join(import.meta.dirname, "..", "..");

let emu: EcrEmulator;
let cacheDir: string;
let imageA: TestImage;
let imageB: TestImage;
const savedEnv = { ...process.env };
const open: { close(): unknown }[] = [];

function settings(input: Record<string, unknown> = {}): EcrOptions {
  return ecrSchema.parse(input);
}

/** A registry as the CLI builds one: the ECR source in the keychain, the repository hook, the endpoint mapping. */
function setup(options: { dir?: string; support?: EcrSupport; registry?: Partial<RegistryOptions>; hook?: boolean } = {}): { ecr: EcrSupport; registry: Registry } {
  const ecr = options.support ?? new EcrSupport({ cache: new EcrTokenCache({ dir: options.dir ?? cacheDir }) });
  const registry = new Registry({
    keychain: new Keychain([ecr.credentials]),
    endpoints: { [emu.registryHost()]: emu.registryEndpoint() },
    ...(options.hook === false ? {} : { beforePush: ecr.repositories.beforePush }),
    retry: { attempts: 2, baseDelayMs: 10 },
    ...options.registry,
  });
  open.push(registry, ecr);
  return { ecr, registry };
}

/** Pushes image A to a reference (the repository created on demand). */
async function registryCopy(target: string): Promise<void> {
  await setup().registry.copy(imageA.ref, target);
}

const tokenCalls = (): number => emu.calls.filter((c) => c.operation === "GetAuthorizationToken").length;
const callsOf = (operation: string): number => emu.calls.filter((c) => c.operation === operation).length;
const host = (): string => emu.registryHost();

before(async () => {
  emu = await startEcrEmulator();
  cacheDir = await tempDir("imagespec-ecr-cache-");
  // Only the emulator's account: no profile or config file of the machine may leak in.
  useEmulatorAwsEnv(emu, cacheDir);
  imageA = await makeTestImage({ busybox: false, layers: [{ "etc/a": "first image" }] });
  imageB = await makeTestImage({ busybox: false, layers: [{ "etc/b": "second image" }] });
});

after(async () => {
  for (const item of open) await item.close();
  await emu?.stop();
  await Promise.all([imageA?.cleanup(), imageB?.cleanup(), cacheDir ? removeDir(cacheDir) : undefined]);
  process.env = savedEnv;
});

describe("ECR login (GetAuthorizationToken) through the keychain", () => {
  it("creates the repository on the first push, fetches one token for several operations, and caches it on disk (0600, no key id in the name)", async () => {
    const { registry } = setup();
    const before = tokenCalls();
    const pushed = await registry.copy(imageA.ref, `${host()}/login/app:v1`);
    assert.equal(pushed.digest, imageA.manifest.digest);
    const found = await registry.exists(`${host()}/login/app:v1`);
    assert.equal(found.present, true);
    assert.deepEqual(await registry.listTags(`${host()}/login/app:v1`), ["v1"]);
    assert.equal(tokenCalls() - before, 1, "one GetAuthorizationToken for the push, the existence check and the tag list");
    assert.ok(emu.repository("login/app"), "the repository was created on demand");

    const files = (await readdir(cacheDir)).filter((f) => f.endsWith(".json"));
    assert.equal(files.length, 1);
    assert.ok(files[0]!.startsWith(`${emu.region}_${emu.accounts.owner.accountId}_`), files[0]);
    assert.ok(!files[0]!.includes(emu.accounts.owner.accessKeyId), "the access key id never appears in the file name");
    const info = await stat(join(cacheDir, files[0]!));
    assert.equal(info.mode & 0o777, 0o600);

    // A new instance (as a new process would) reads the disk cache: no API call.
    const { registry: second } = setup();
    assert.equal((await second.exists(`${host()}/login/app:v1`)).present, true);
    assert.equal(tokenCalls() - before, 1);
  });

  it("a second process (imagespec ecr login) reuses the disk cache and prints the same password", async () => {
    const xdg = await tempDir("imagespec-xdg-");
    const login = (): Promise<RunResult> =>
      run(process.execPath, ["--import", "tsx", join(root, "src", "cli", "main.ts"), "ecr", "login", host()], { cwd: root, env: { ...process.env, XDG_CACHE_HOME: xdg }, timeoutMs: 60_000 });
    try {
      const before = tokenCalls();
      const first = await login();
      assert.equal(first.code, 0, first.stderr);
      assert.equal(tokenCalls() - before, 1, "the first process asked the API");
      const again = await login();
      assert.equal(again.code, 0, again.stderr);
      assert.equal(tokenCalls() - before, 1, "the second process found the token on disk");
      assert.equal(again.stdout, first.stdout);
      assert.match(first.stdout, /^\S{20,}\n$/);
      // The printed password is the registry password: Basic AWS:<it> is accepted by the registry.
      const res = await fetch(`${emu.registryEndpoint()}/v2/`, { headers: { authorization: `Basic ${Buffer.from(`AWS:${first.stdout.trim()}`).toString("base64")}` } });
      assert.equal(res.status, 200);
      const files = await readdir(join(xdg, "imagespec", "ecr-tokens"));
      assert.equal(files.length, 1);
    } finally {
      await removeDir(xdg);
    }
  });

  it("fetches a new token when the registry refuses the cached one as expired, and retries the request", async () => {
    const { registry } = setup();
    await registry.copy(imageA.ref, `${host()}/refresh/app:v1`);
    const before = tokenCalls();
    const seen = emu.registryRequests.length;
    emu.expireTokens();
    const found = await registry.exists(`${host()}/refresh/app:v1`);
    assert.equal(found.present, true);
    assert.equal(tokenCalls() - before, 1, "exactly one new token");
    const statuses = emu.registryRequests.slice(seen).map((r) => r.status);
    assert.ok(statuses.includes(403), `the expired token was refused first: ${statuses.join(",")}`);

    // The disk cache now holds the new token: a fresh instance works without another call.
    const { registry: fresh } = setup();
    assert.equal((await fresh.exists(`${host()}/refresh/app:v1`)).present, true);
    assert.equal(tokenCalls() - before, 1);
  });

  it("without AWS credentials, says how to configure them", async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    try {
      const ecr = new EcrSupport({ cache: new EcrTokenCache({ dir: false }) });
      open.push(ecr);
      await assert.rejects(ecr.credentials.password(host()), (error: unknown) => {
        assert.ok(error instanceof EcrError);
        assert.equal(error.code, "AWS_CREDENTIALS_MISSING");
        assert.match(error.hint ?? "", /AWS_PROFILE/);
        assert.match(error.hint ?? "", /aws sso login/);
        return true;
      });
      // Through the registry: no credential, and the 401's hint says why.
      const { registry } = setup({ support: ecr, hook: false });
      await assert.rejects(registry.exists(`${host()}/login/app:v1`), (error: unknown) => {
        assert.ok(error instanceof RegistryError, String(error));
        assert.equal(error.status, 401);
        assert.match(error.hint ?? "", /no AWS credentials/);
        return true;
      });
    } finally {
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: saved.id, AWS_SECRET_ACCESS_KEY: saved.secret });
    }
  });

});

describe("ECR repositories on demand", () => {
  it("creates the repository with the spec's settings; the default is IMMUTABLE_WITH_EXCLUSION of imagespec-cache-*", async () => {
    const { ecr, registry } = setup();
    ecr.repositories.register(`${host()}/team/custom`, settings({ scanOnPush: true, tags: { team: "ml" }, encryption: { type: "KMS", kmsKey: "alias/imagespec" } }));
    await registry.copy(imageA.ref, `${host()}/team/custom:v1`);
    await registry.copy(imageA.ref, `${host()}/team/defaults:v1`);
    const custom = emu.repository("team/custom")!;
    assert.equal(custom.imageScanningConfiguration.scanOnPush, true);
    assert.deepEqual(custom.tags, [{ Key: "team", Value: "ml" }]);
    assert.equal(custom.encryptionConfiguration.encryptionType, "KMS");
    assert.equal(custom.encryptionConfiguration.kmsKey, "alias/imagespec");
    const defaults = emu.repository("team/defaults")!;
    assert.equal(defaults.imageTagMutability, "IMMUTABLE_WITH_EXCLUSION");
    assert.deepEqual(defaults.imageTagMutabilityExclusionFilters, [{ filterType: "WILDCARD", filter: "imagespec-cache-*" }]);
    assert.equal(defaults.imageScanningConfiguration.scanOnPush, false);
    assert.equal(defaults.encryptionConfiguration.encryptionType, "AES256");

    // Once per repository per process: a second push does not describe it again.
    const describes = callsOf("DescribeRepositories");
    await registry.copy(imageB.ref, `${host()}/team/defaults:v2`);
    assert.equal(callsOf("DescribeRepositories"), describes);
  });

  it("createRepository: false and a missing repository: a clear error naming the repository and the command; nothing pushed", async () => {
    const { ecr, registry } = setup();
    ecr.repositories.register(`${host()}/team/absent`, settings({ createRepository: false }));
    const seen = emu.registryRequests.length;
    await assert.rejects(registry.copy(imageA.ref, `${host()}/team/absent:v1`), (error: unknown) => {
      assert.ok(error instanceof EcrError, String(error));
      assert.equal(error.code, "ECR_REPOSITORY_NOT_FOUND");
      assert.match(error.message, /team\/absent/);
      assert.match(error.hint ?? "", /aws ecr create-repository --repository-name team\/absent --region us-east-1/);
      return true;
    });
    assert.equal(emu.registryRequests.length, seen, "no registry request at all");
    assert.equal(callsOf("CreateRepository") > 0 && emu.calls.some((c) => c.operation === "CreateRepository" && JSON.stringify(c.input).includes("team/absent")), false);
  });

  it("without the repository hook, ECR's dropped upload connection to a missing repository becomes 'repository does not exist', confirmed by DescribeRepositories", async () => {
    const ecr = new EcrSupport({ cache: new EcrTokenCache({ dir: cacheDir }) });
    const { registry } = setup({ hook: false, support: ecr, registry: { diagnose: ecrFailureDiagnosis(ecr.clients) } });
    const described = callsOf("DescribeRepositories");
    await assert.rejects(registry.copy(imageA.ref, `${host()}/never/created:v1`), (error: unknown) => {
      assert.ok(error instanceof EcrError, String(error));
      assert.equal(error.code, "ECR_REPOSITORY_NOT_FOUND");
      assert.match(error.message, /ECR repository never\/created does not exist/);
      assert.match(error.hint ?? "", /create-repository/);
      return true;
    });
    assert.ok(callsOf("DescribeRepositories") > described, "the diagnosis asked the ECR API");
  });

  it("without a diagnosis, the dropped connection stays a network error of the target: no repository verdict from the registry alone", async () => {
    const { registry } = setup({ hook: false });
    await assert.rejects(registry.copy(imageA.ref, `${host()}/never/created2:v1`), (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.match(error.message, /^target registry: /);
      assert.doesNotMatch(error.message, /does not exist/);
      return true;
    });
  });

  it("immutable tags: the same digest again is success, other content under the tag is a clear error", async () => {
    const { ecr, registry } = setup();
    ecr.repositories.register(`${host()}/team/frozen`, settings({ tagMutability: "IMMUTABLE" }));
    await registry.copy(imageA.ref, `${host()}/team/frozen:v1`);
    assert.equal(emu.repository("team/frozen")?.imageTagMutability, "IMMUTABLE");

    const seen = emu.registryRequests.length;
    const again = await registry.copy(imageA.ref, `${host()}/team/frozen:v1`);
    assert.equal(again.digest, imageA.manifest.digest);
    assert.deepEqual(again.push?.manifests, { pushed: 0, existing: 1 });
    const refused = emu.registryRequests.slice(seen).filter((r) => r.method === "PUT" && r.path.includes("/manifests/v1"));
    assert.deepEqual(refused.map((r) => r.status), [400], "the registry did refuse the tag (TAG_INVALID), and that was read as 'already there'");

    await assert.rejects(registry.copy(imageB.ref, `${host()}/team/frozen:v1`), (error: unknown) => {
      assert.ok(error instanceof ImagespecError, String(error));
      assert.equal(error.code, "TAG_IMMUTABLE");
      assert.ok(error.message.includes(imageA.manifest.digest) && error.message.includes(imageB.manifest.digest), error.message);
      assert.match(error.hint ?? "", /mutable/);
      return true;
    });
  });
});

describe("uploads under ECR's rules", () => {
  it("chunked uploads use chunks of at least OCI-Chunk-Min-Length (5 MiB); a streamed upload is one PATCH", async () => {
    const big = await makeTestImage({ busybox: false, gzip: false, layers: [{ "data/blob": randomBytes(6 << 20) }] });
    try {
      const { registry: chunked } = setup({ registry: { upload: { mode: "chunked", chunkSize: 1 << 20 } } });
      let seen = emu.registryRequests.length;
      await chunked.copy(big.ref, `${host()}/uploads/chunked:v1`);
      const patches = emu.registryRequests.slice(seen).filter((r) => r.method === "PATCH");
      // Per upload session (the config is one small PATCH of its own): the 6 MiB layer took 5 MiB and the rest, not six 1 MiB chunks.
      const sessions = new Map<string, number>();
      for (const p of patches) sessions.set(p.path.split("?")[0]!, (sessions.get(p.path.split("?")[0]!) ?? 0) + 1);
      assert.deepEqual([...sessions.values()].sort(), [1, 2], JSON.stringify(patches.map((p) => p.path.split("?")[0])));
      assert.ok(patches.every((r) => r.status === 201));

      const { registry: streamed } = setup();
      seen = emu.registryRequests.length;
      await streamed.copy(big.ref, `${host()}/uploads/streamed:v1`);
      assert.equal(emu.registryRequests.slice(seen).filter((r) => r.method === "PATCH").length, 1);
      assert.equal((await streamed.getImage(`${host()}/uploads/streamed:v1`)).digest, big.manifest.digest);
    } finally {
      await big.cleanup();
    }
  });
});

describe("a layer uploaded while it is compressed, under ECR's rules", () => {
  it("creates the repository first, sends one PATCH of unknown length, and the push finds the layer there", async () => {
    const { registry } = setup();
    const target = `${host()}/uploads/while-writing`;
    const data = randomBytes(24 << 20);
    // The last piece waits for the upload to have begun: before the push (and its own repository check) starts.
    async function* pieces(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 20 << 20);
      for (let i = 0; i < 1000 && !emu.registryRequests.some((r) => r.method === "PATCH" && r.chunkedBody && r.path.startsWith("/v2/uploads/while-writing/")); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      yield data.subarray(20 << 20);
    }
    const layer = await compressToCache(Readable.from(pieces()), {
      cacheDir: join(cacheDir, "layers"),
      onGrowing: (blob) => registry.uploadWhileWriting(target, blob),
    });
    const blob = { descriptor: layer.descriptor, open: async () => createReadStream(layer.path) };
    const image = imageFromParts({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.diffId] }, config: {} }, [blob]);
    const pushed = await registry.push(`${target}:v1`, image);
    assert.equal(pushed.blobs.uploaded, 2);
    const here = emu.registryRequests.filter((r) => r.path.startsWith("/v2/uploads/while-writing/"));
    const patches = here.filter((r) => r.method === "PATCH");
    assert.equal(patches.length, 1, "one PATCH: the layer was not sent again by the push");
    // Had the repository not been made before it, this PATCH would have failed and the push sent its own (with a Content-Length).
    assert.equal(patches[0]!.chunkedBody, true, "of unknown length: sent while the layer was written");
    assert.equal(patches[0]!.status, 201, "ECR answers PATCH with 201");
    assert.equal(here.filter((r) => r.method === "PUT" && r.path.includes(`digest=${encodeURIComponent(layer.descriptor.digest)}`)).length, 1);
    const got = await registry.getImage(`${target}:v1`);
    assert.equal(got.digest, image.digest);
    assert.equal(got.layers[0]!.descriptor.digest, layer.descriptor.digest);
  });
});

describe("pulls with ECR's blob redirects", () => {
  it("follows the 307 to the presigned storage URL and verifies the content", async () => {
    const redirecting = await startEcrEmulator({ redirectBlobs: true });
    try {
      const owner = redirecting.accounts.owner;
      // Configured in code this time: the API endpoint and the keys as client options.
      const ecr = new EcrSupport({ endpoint: redirecting.apiEndpoint, credentials: { accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey }, cache: new EcrTokenCache({ dir: false }) });
      const registry = new Registry({ keychain: new Keychain([ecr.credentials]), endpoints: { [redirecting.registryHost()]: redirecting.registryEndpoint() }, beforePush: ecr.repositories.beforePush });
      open.push(registry, ecr);
      const target = `${redirecting.registryHost()}/team/redirected:v1`;
      await registry.copy(imageA.ref, target);
      const layout = await tempDir("imagespec-ecr-pull-");
      try {
        const copied = await registry.copy(target, `oci:${layout}:v1`);
        assert.equal(copied.digest, imageA.manifest.digest);
      } finally {
        await removeDir(layout);
      }
      const redirected = redirecting.registryRequests.filter((r) => r.method === "GET" && r.path.includes("/blobs/sha256:"));
      assert.ok(redirected.length > 0 && redirected.every((r) => r.status === 307), JSON.stringify(redirected));
      assert.ok(redirecting.registryRequests.some((r) => r.path.startsWith("/s3/") && r.status === 200), "the blobs came from the storage URL");
    } finally {
      await redirecting.stop();
    }
  });
});

describe("cross-account pull and lifecycle", () => {
  it("merges the pull statement idempotently, keeping other statements, and lets the other account pull", async () => {
    const { ecr, registry } = setup();
    await registry.copy(imageA.ref, `${host()}/shared/app:v1`);
    const sdk = new ECRClient({ region: emu.region });
    open.push({ close: () => sdk.destroy() });
    const keep = { Sid: "KeepMe", Effect: "Allow", Principal: { AWS: "arn:aws:iam::333333333333:root" }, Action: ["ecr:DescribeImages"] };
    await sdk.send(new SetRepositoryPolicyCommand({ repositoryName: "shared/app", policyText: JSON.stringify({ Version: "2012-10-17", Statement: [keep] }) }));

    // The other account cannot pull yet.
    const other = new EcrSupport({ cache: new EcrTokenCache({ dir: false }), credentials: { accessKeyId: emu.accounts.other.accessKeyId, secretAccessKey: emu.accounts.other.secretAccessKey } });
    const { registry: otherRegistry } = setup({ support: other, hook: false });
    await assert.rejects(otherRegistry.getManifest(`${host()}/shared/app:v1`), (error: unknown) => error instanceof RegistryError && error.status === 403);

    const sets = callsOf("SetRepositoryPolicy");
    assert.equal(await ecr.repositories.grantPull(`${host()}/shared/app`, [emu.accounts.other.accountId]), "updated");
    assert.equal(await ecr.repositories.grantPull(`${host()}/shared/app`, [emu.accounts.other.accountId]), "unchanged");
    assert.equal(callsOf("SetRepositoryPolicy") - sets, 1, "written once");
    const policy = JSON.parse(emu.repository("shared/app")!.policyText!) as { Statement: { Sid: string; Principal: { AWS: string[] }; Action: string[] }[] };
    assert.deepEqual(policy.Statement.find((s) => s.Sid === "KeepMe"), keep);
    const ours = policy.Statement.find((s) => s.Sid === PULL_STATEMENT_SID)!;
    assert.deepEqual(ours.Principal.AWS, [`arn:aws:iam::${emu.accounts.other.accountId}:root`]);
    assert.deepEqual([...ours.Action].sort(), ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]);

    // Now the other account can pull (its 403 was not a stale token: one refresh at most).
    const { registry: otherAgain } = setup({ support: other, hook: false });
    const image = await otherAgain.getImage(`${host()}/shared/app:v1`);
    assert.equal(image.digest, imageA.manifest.digest);
  });

  it("puts the lifecycle policy only when it differs", async () => {
    const { ecr, registry } = setup();
    const lifecyclePolicy = { rules: [{ rulePriority: 1, selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 14 }, action: { type: "expire" } }] };
    ecr.repositories.register(`${host()}/team/lifecycle`, settings({ lifecyclePolicy }));
    await registry.copy(imageA.ref, `${host()}/team/lifecycle:v1`);
    assert.deepEqual(JSON.parse(emu.repository("team/lifecycle")!.lifecyclePolicyText!), lifecyclePolicy);
    const puts = callsOf("PutLifecyclePolicy");
    const fresh = new EcrSupport({ cache: new EcrTokenCache({ dir: cacheDir }) });
    open.push(fresh);
    fresh.repositories.register(`${host()}/team/lifecycle`, settings({ lifecyclePolicy }));
    const result = await fresh.repositories.ensure(`${host()}/team/lifecycle`);
    assert.deepEqual(result, { host: host(), repository: "team/lifecycle", status: "exists", policy: "none", lifecycle: "unchanged" });
    assert.equal(callsOf("PutLifecyclePolicy"), puts);
  });
});

describe("ECR control plane as strict as AWS (issue #15, item 9)", () => {
  const anyWithoutCount = { rules: [{ rulePriority: 1, selection: { tagStatus: "any" }, action: { type: "expire" } }] };
  const cli = (args: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> =>
    run(process.execPath, ["--import", "tsx", join(root, "src", "cli", "main.ts"), ...args], { cwd: root, env, timeoutMs: 60_000 });

  it("a lifecycle policy ECR would refuse stops before the first call: no repository, no call, INVALID_LIFECYCLE_POLICY", async () => {
    const { ecr } = setup();
    // Settings made in code, past the spec schema: the repository code checks the policy itself.
    ecr.repositories.register(`${host()}/bad/lifecycle`, { ...settings(), lifecyclePolicy: anyWithoutCount });
    const calls = emu.calls.length;
    await assert.rejects(ecr.repositories.ensure(`${host()}/bad/lifecycle`), (error: unknown) => {
      assert.ok(error instanceof EcrError, String(error));
      assert.equal(error.code, "INVALID_LIFECYCLE_POLICY");
      assert.match(error.message, /ecr\.lifecyclePolicy\.rules\[0\]\.selection\.countType/);
      return true;
    });
    assert.deepEqual(emu.calls.slice(calls).map((c) => c.operation), [], "no API call at all");
    assert.equal(emu.repository("bad/lifecycle"), undefined);
  });

  it("imagespec ecr ensure-repo with such a spec: exit 2, the field named, no repository", async () => {
    const dir = await tempDir("imagespec-ecr-badlc-");
    try {
      const spec = join(dir, "imagespec.yaml");
      await writeFile(spec, [`name: badlc`, `registry: ${host()}/team`, "ecr:", "  lifecycle_policy:", "    rules:", "      - rulePriority: 1", "        selection: {tagStatus: any}", "        action: {type: expire}", ""].join("\n"));
      const calls = emu.calls.length;
      const result = await cli(["ecr", "ensure-repo", spec]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /lifecycle_policy\.rules\[0\]\.selection\.countType: countType is required/);
      assert.deepEqual(emu.calls.slice(calls), []);
      assert.equal(emu.repository("team/badlc"), undefined);
    } finally {
      await removeDir(dir);
    }
  });

  it("a DescribeRepositories answer that does not name the repository is an error, never 'exists'", async () => {
    for (const answer of [{ repositories: [] }, { repositories: [{ registryId: emu.accounts.other.accountId, repositoryName: "team/unnamed" }] }]) {
      const { registry } = setup();
      emu.answerOnce("DescribeRepositories", answer);
      const seen = emu.registryRequests.length;
      await assert.rejects(registry.copy(imageA.ref, `${host()}/team/unnamed:v1`), (error: unknown) => {
        assert.ok(error instanceof EcrError, String(error));
        assert.equal(error.code, "ECR_UNEXPECTED_ANSWER");
        assert.match(error.message, /DescribeRepositories for repository team\/unnamed in 111111111111 .*answered without that repository/);
        assert.doesNotMatch(error.hint ?? "", /retry/);
        return true;
      });
      assert.equal(emu.registryRequests.slice(seen).length, 0, "nothing pushed");
      assert.equal(emu.repository("team/unnamed"), undefined, "and nothing created");
    }
  });

  it("hints say what to change, not 'retry', for answers a retry cannot change", async () => {
    const { ecr } = setup();
    await assert.rejects(ecr.repositories.grantPull(`${host()}/never/made`, [emu.accounts.other.accountId]), (error: unknown) => {
      assert.ok(error instanceof EcrError, String(error));
      assert.match(error.message, /RepositoryNotFoundException/);
      assert.doesNotMatch(error.hint ?? "", /retry/);
      assert.match(error.hint ?? "", /does not exist in that registry/);
      return true;
    });
    await registryCopy(`${host()}/team/crowded:v1`);
    const many = Array.from({ length: 400 }, (_, i) => String(300000000000 + i));
    await assert.rejects(ecr.repositories.grantPull(`${host()}/team/crowded`, many), (error: unknown) => {
      assert.ok(error instanceof EcrError, String(error));
      assert.match(error.message, /SetRepositoryPolicy .*InvalidParameterException/);
      assert.doesNotMatch(error.hint ?? "", /retry/);
      assert.match(error.hint ?? "", /at most 10240 characters/);
      return true;
    });
  });

  it("a grant ECR stored in its own form (account id as root ARN, AWS's formatting, one principal as a string) is recognised: nothing written again", async () => {
    const { ecr } = setup();
    await registryCopy(`${host()}/team/normalised:v1`);
    const sdk = new ECRClient({ region: emu.region });
    open.push({ close: () => sdk.destroy() });
    const statement = { Sid: PULL_STATEMENT_SID, Effect: "Allow", Principal: { AWS: emu.accounts.other.accountId }, Action: ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"] };
    await sdk.send(new SetRepositoryPolicyCommand({ repositoryName: "team/normalised", policyText: JSON.stringify({ Version: "2012-10-17", Statement: [statement] }) }));
    const stored = emu.repository("team/normalised")!.policyText!;
    assert.match(stored, /"AWS" : "arn:aws:iam::222222222222:root"/, "the emulator stores what AWS stores");
    const sets = callsOf("SetRepositoryPolicy");
    assert.equal(await ecr.repositories.grantPull(`${host()}/team/normalised`, [emu.accounts.other.accountId]), "unchanged");
    assert.equal(callsOf("SetRepositoryPolicy"), sets);
  });

  it("a pull grant to an IAM role that does not exist: ECR's 'Principal not found', with a hint naming allowPullFrom", async () => {
    const { ecr } = setup();
    await registryCopy(`${host()}/team/ghost:v1`);
    const role = `arn:aws:iam::${emu.accounts.other.accountId}:role/flyte-worker`;
    await assert.rejects(ecr.repositories.grantPull(`${host()}/team/ghost`, [role]), (error: unknown) => {
      assert.ok(error instanceof EcrError, String(error));
      assert.match(error.message, /Principal not found/);
      assert.match(error.hint ?? "", /ecr\.allowPullFrom .*not an existing IAM role or user/);
      return true;
    });
    assert.equal(emu.repository("team/ghost")?.policyText, undefined, "no policy written");
    emu.addIamPrincipal(role);
    assert.equal(await ecr.repositories.grantPull(`${host()}/team/ghost`, [role]), "updated");
  });

  it("credentials AWS does not recognise (wrong secret): ECR_ACCESS_DENIED that says so, without the secret", async () => {
    const wrong = "wrong-secret-".padEnd(40, "x");
    const ecr = new EcrSupport({ cache: new EcrTokenCache({ dir: false }), credentials: { accessKeyId: emu.accounts.owner.accessKeyId, secretAccessKey: wrong } });
    open.push(ecr);
    await assert.rejects(ecr.credentials.password(host()), (error: unknown) => {
      assert.ok(error instanceof EcrError, String(error));
      assert.equal(error.code, "ECR_ACCESS_DENIED");
      assert.match(error.message, /AWS rejected the credentials/);
      assert.ok(!error.message.includes(wrong) && !(error.hint ?? "").includes(wrong));
      return true;
    });
  });

  it("ECR's throttling is ridden out by the SDK's retries", async () => {
    const { ecr } = setup();
    emu.throttle("DescribeRepositories", 1);
    emu.throttle("CreateRepository", 1);
    assert.equal((await ecr.repositories.ensure(`${host()}/team/throttled`)).status, "created");
    assert.ok(emu.repository("team/throttled"));
  });

  it("--aws-profile NAME honours the profile's endpoint_url (and services section), as AWS_PROFILE=NAME does", async () => {
    const dir = await tempDir("imagespec-ecr-profile-");
    const saved = { ...process.env };
    try {
      const owner = emu.accounts.owner;
      const config = join(dir, "config");
      await writeFile(
        config,
        [
          "[profile emu]",
          `endpoint_url = ${emu.apiEndpoint}`,
          `region = ${emu.region}`,
          "[profile emu-services]",
          "services = emulated",
          `region = ${emu.region}`,
          "[services emulated]",
          "ecr =",
          `  endpoint_url = ${emu.apiEndpoint}`,
          "",
        ].join("\n"),
      );
      const credentials = join(dir, "credentials");
      await writeFile(credentials, ["emu", "emu-services"].map((p) => `[${p}]\naws_access_key_id = ${owner.accessKeyId}\naws_secret_access_key = ${owner.secretAccessKey}\n`).join(""));
      // Nothing but the profiles: no endpoint or keys in the environment.
      for (const key of ["AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"]) delete process.env[key];
      Object.assign(process.env, { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials });

      for (const profile of ["emu", "emu-services"]) {
        const ecr = new EcrSupport({ profile, cache: new EcrTokenCache({ dir: false }) });
        open.push(ecr);
        const before = tokenCalls();
        assert.match(await ecr.credentials.password(host()), /^\S{20,}$/, profile);
        assert.equal(tokenCalls() - before, 1, `${profile}: the emulator was asked`);
      }

      const xdg = await tempDir("imagespec-ecr-profile-xdg-");
      try {
        const env = { ...process.env, XDG_CACHE_HOME: xdg };
        const before = tokenCalls();
        const byFlag = await cli(["ecr", "login", "--aws-profile", "emu", host()], env);
        assert.equal(byFlag.code, 0, byFlag.stderr);
        assert.equal(tokenCalls() - before, 1);
        const byEnv = await cli(["ecr", "login", host()], { ...env, AWS_PROFILE: "emu" });
        assert.equal(byEnv.code, 0, byEnv.stderr);
        assert.equal(byEnv.stdout, byFlag.stdout, "same identity, same cached token");
      } finally {
        await removeDir(xdg);
      }
    } finally {
      process.env = saved;
      await removeDir(dir);
    }
  });
});

// Last: deny() cannot be undone, so this runs after every test that creates repositories.
describe("missing IAM permissions", () => {
  it("AccessDenied on CreateRepository names the action; nothing is pushed", async () => {
    const { registry } = setup();
    emu.deny(emu.accounts.owner.accountId, "ecr:CreateRepository");
    const seen = emu.registryRequests.length;
    await assert.rejects(registry.copy(imageA.ref, `${host()}/denied/app:v1`), (error: unknown) => {
      assert.ok(error instanceof EcrError, String(error));
      assert.equal(error.code, "ECR_ACCESS_DENIED");
      assert.match(error.message, /ecr:CreateRepository/);
      assert.ok(error.message.includes(emu.accounts.owner.userArn), error.message);
      assert.match(error.hint ?? "", /allow ecr:CreateRepository/);
      return true;
    });
    assert.equal(emu.registryRequests.slice(seen).filter((r) => r.path.includes("denied/app")).length, 0);
    assert.equal(emu.repository("denied/app"), undefined);
  });

  it("AccessDenied on GetAuthorizationToken names the IAM action and the identity", async () => {
    const ecr = new EcrSupport({ cache: new EcrTokenCache({ dir: false }), credentials: { accessKeyId: emu.accounts.other.accessKeyId, secretAccessKey: emu.accounts.other.secretAccessKey } });
    open.push(ecr);
    emu.deny(emu.accounts.other.accountId, "ecr:GetAuthorizationToken");
    await assert.rejects(ecr.credentials.password(emu.registryHost(emu.accounts.other.accountId)), (error: unknown) => {
      assert.ok(error instanceof EcrError);
      assert.equal(error.code, "ECR_ACCESS_DENIED");
      assert.match(error.message, /ecr:GetAuthorizationToken/);
      assert.ok(error.message.includes(emu.accounts.other.userArn), error.message);
      assert.ok(!error.message.includes(emu.accounts.other.secretAccessKey));
      return true;
    });
  });

  it("a role that may push but not describe repositories: an error naming ecr:DescribeRepositories, unless createRepository is false", async () => {
    emu.deny(emu.accounts.owner.accountId, "ecr:DescribeRepositories");
    const { registry } = setup();
    await assert.rejects(registry.copy(imageB.ref, `${host()}/team/defaults:v3`), (error: unknown) => {
      assert.ok(error instanceof EcrError, String(error));
      assert.equal(error.code, "ECR_ACCESS_DENIED");
      assert.match(error.message, /ecr:DescribeRepositories/);
      return true;
    });
    const { ecr: unmanaged, registry: pushOnly } = setup();
    unmanaged.repositories.register(`${host()}/team/defaults`, settings({ createRepository: false }));
    const pushed = await pushOnly.copy(imageB.ref, `${host()}/team/defaults:v3`);
    assert.equal(pushed.digest, imageB.manifest.digest);
  });
});
