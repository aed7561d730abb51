// ECR Public (`public.ecr.aws/<alias>`) against the ECR emulator, reached only through
// configuration: the SDK's AWS_ENDPOINT_URL_ECR_PUBLIC for the ecr-public API and a registry
// endpoint mapping for public.ecr.aws.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ECRPUBLICClient, PutRepositoryCatalogDataCommand } from "@aws-sdk/client-ecr-public";
import { EcrError, EcrSupport, EcrTokenCache, ecrSchema } from "../../src/ecr/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { Keychain, Registry, RegistryError } from "../../src/registry/index.js";
import { ValidationError } from "../../src/errors.js";
import { PUBLIC_REGISTRY_HOST, startEcrEmulator, useEmulatorAwsEnv, type EcrEmulator } from "../support/ecr-emulator/index.js";
import { makeTestImage, removeDir, tempDir, type TestImage } from "../support/tools.js";

let emu: EcrEmulator;
let cacheDir: string;
let image: TestImage;
const savedEnv = { ...process.env };
const open: { close(): unknown }[] = [];

function setup(options: { keychain?: boolean } = {}): { ecr: EcrSupport; registry: Registry } {
  const ecr = new EcrSupport({ cache: new EcrTokenCache({ dir: false }) });
  const registry = new Registry({
    keychain: new Keychain(options.keychain === false ? [] : [ecr.credentials]),
    endpoints: { [PUBLIC_REGISTRY_HOST]: emu.publicRegistryEndpoint },
    beforePush: ecr.repositories.beforePush,
    retry: { attempts: 2, baseDelayMs: 10 },
  });
  open.push(registry, ecr);
  return { ecr, registry };
}

const publicCalls = (operation?: string) => emu.calls.filter((c) => c.service === "ecr-public" && (operation === undefined || c.operation === operation));
const alias = () => emu.accounts.owner.publicAlias;

before(async () => {
  emu = await startEcrEmulator({ region: "eu-west-1" });
  cacheDir = await tempDir("imagespec-ecr-public-");
  // Only the emulator's account: no profile or config file of the machine may leak in.
  useEmulatorAwsEnv(emu, cacheDir);
  image = await makeTestImage({ busybox: false, layers: [{ "etc/public": "a public image" }] });
});

after(async () => {
  for (const item of open) await item.close();
  await emu?.stop();
  await Promise.all([image?.cleanup(), cacheDir ? removeDir(cacheDir) : undefined]);
  process.env = savedEnv;
});

describe("ECR Public", { timeout: 60_000 }, () => {
  it("pushes to public.ecr.aws/<alias> with a token from ecr-public in us-east-1, creating the repository with its catalog data and tags", async () => {
    const { ecr, registry } = setup();
    const target = `${PUBLIC_REGISTRY_HOST}/${alias()}/tools/app:v1`;
    ecr.repositories.register(target, ecrSchema.parse({ tags: { team: "ml" }, catalogData: { description: "A tool", architectures: ["x86-64"], operatingSystems: ["Linux"] } }));
    await registry.copy(image.ref, target);

    const repo = emu.publicRepository("tools/app");
    assert.ok(repo, "the repository was created in ECR Public");
    assert.deepEqual(repo.catalogData, { description: "A tool", architectures: ["x86-64"], operatingSystems: ["Linux"] });
    assert.deepEqual(repo.tags, [{ Key: "team", Value: "ml" }]);
    // The private API was never asked: ECR Public has its own token and repositories.
    assert.equal(emu.calls.filter((c) => c.service === "ecr").length, 0);
    assert.deepEqual(publicCalls().map((c) => c.operation).sort(), ["CreateRepository", "DescribeRegistries", "DescribeRepositories", "GetAuthorizationToken"]);

    // Anyone pulls: a registry client with no credentials at all reads the image back.
    const anonymous = setup({ keychain: false }).registry;
    const pulled = await anonymous.getManifest(target);
    assert.equal(pulled.digest, (await registry.getManifest(target)).digest);
  });

  it("updates an existing repository's catalog data only where the spec differs, keeping fields set elsewhere", async () => {
    const { ecr } = setup();
    const ref = `${PUBLIC_REGISTRY_HOST}/${alias()}/catalog`;
    ecr.repositories.register(ref, ecrSchema.parse({ catalogData: { description: "first" } }));
    assert.deepEqual(await ecr.repositories.ensure(ref), { host: PUBLIC_REGISTRY_HOST, repository: `${alias()}/catalog`, status: "created", policy: "none", lifecycle: "none", catalogData: "updated" });
    // Someone sets usage text in the console.
    const client = new ECRPUBLICClient({ region: "us-east-1" });
    await client.send(new PutRepositoryCatalogDataCommand({ repositoryName: "catalog", catalogData: { description: "first", usageText: "docker run it" } }));
    client.destroy();

    const again = setup().ecr;
    again.repositories.register(ref, ecrSchema.parse({ catalogData: { description: "first" } }));
    assert.equal((await again.repositories.ensure(ref)).catalogData, "unchanged");
    const third = setup().ecr;
    third.repositories.register(ref, ecrSchema.parse({ catalogData: { description: "second" } }));
    assert.equal((await third.repositories.ensure(ref)).catalogData, "updated");
    assert.deepEqual(emu.publicRepository("catalog")?.catalogData, { description: "second", usageText: "docker run it" });
  });

  it("adds catalog data to a repository created without any (ECR answers RepositoryCatalogDataNotFoundException)", async () => {
    const ref = `${PUBLIC_REGISTRY_HOST}/${alias()}/bare`;
    const first = setup().ecr;
    first.repositories.register(ref, ecrSchema.parse({}));
    assert.equal((await first.repositories.ensure(ref)).status, "created");
    assert.deepEqual(emu.publicRepository("bare")?.catalogData, {});
    const second = setup().ecr;
    second.repositories.register(ref, ecrSchema.parse({ catalogData: { aboutText: "# Bare" } }));
    assert.equal((await second.repositories.ensure(ref)).catalogData, "updated");
    assert.deepEqual(emu.publicRepository("bare")?.catalogData, { aboutText: "# Bare" });
  });

  it("refuses an alias that is not the caller's registry, before creating anything", async () => {
    const { ecr } = setup();
    const ref = `${PUBLIC_REGISTRY_HOST}/${emu.accounts.other.publicAlias}/stolen`;
    const before = publicCalls("CreateRepository").length;
    await assert.rejects(ecr.repositories.ensure(ref), (error: unknown) => {
      assert.ok(error instanceof EcrError);
      assert.equal(error.code, "ECR_PUBLIC_ALIAS_NOT_YOURS");
      assert.match(error.message, new RegExp(`has the alias ${alias()}`));
      return true;
    });
    assert.equal(publicCalls("CreateRepository").length, before);
    assert.equal(emu.publicRepository("stolen", emu.accounts.other.accountId), undefined);
  });

  it("without ecr-public:GetAuthorizationToken, pushing fails naming both IAM actions, and pulling still works anonymously", async () => {
    const target = `${PUBLIC_REGISTRY_HOST}/${alias()}/tools/app:v1`;
    emu.deny(emu.accounts.owner.accountId, "sts:GetServiceBearerToken");
    const { ecr, registry } = setup();
    // Pulls go anonymous when login fails (ECR Public serves them to anyone).
    assert.ok((await registry.getManifest(target)).digest.startsWith("sha256:"));
    await assert.rejects(registry.copy(image.ref, `${PUBLIC_REGISTRY_HOST}/${alias()}/tools/app:v2`), (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.code, "UNAUTHORIZED");
      assert.match(error.hint ?? "", /ecr-public:GetAuthorizationToken and sts:GetServiceBearerToken/);
      return true;
    });
    assert.match(ecr.credentials.describeMissing(PUBLIC_REGISTRY_HOST) ?? "", /sts:GetServiceBearerToken/);
  });

  it("checks a spec's ecr settings against the kind of registry: catalogData is for ECR Public, allowPullFrom and lifecycle policies for private registries", () => {
    assert.throws(
      () => new ImageSpec({ name: "app", registry: `${PUBLIC_REGISTRY_HOST}/team`, ecr: { allowPullFrom: ["210987654321"] } }),
      (error: unknown) => error instanceof ValidationError && error.issues.some((i) => i.path === "ecr.allowPullFrom" && /pulled by anyone/.test(i.message)),
    );
    assert.throws(
      () => new ImageSpec({ name: "app", registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com/team", ecr: { catalogData: { description: "x" } } }),
      (error: unknown) => error instanceof ValidationError && error.issues.some((i) => i.path === "ecr.catalogData" && /ECR Public/.test(i.message)),
    );
    assert.throws(
      () => new ImageSpec({ name: "app", registry: `${PUBLIC_REGISTRY_HOST}/team`, ecr: { catalogData: { architectures: ["amd64"] } } }),
      (error: unknown) => error instanceof ValidationError && error.issues.some((i) => i.path === "ecr.catalogData.architectures[0]" && /x86-64/.test(i.hint ?? "")),
    );
    assert.throws(
      () => new ImageSpec({ name: "app", registry: `${PUBLIC_REGISTRY_HOST}/team`, ecr: { scanOnPush: true, encryption: { type: "KMS" } } }),
      (error: unknown) => error instanceof ValidationError && ["ecr.scanOnPush", "ecr.encryption"].every((path) => error.issues.some((i) => i.path === path)),
    );
    // The alias and the repository name as ECR Public takes them, checked at load, not after a build.
    assert.throws(
      () => new ImageSpec({ name: "app", registry: `${PUBLIC_REGISTRY_HOST}/a` }),
      (error: unknown) => error instanceof ValidationError && error.issues.some((i) => i.path === "registry" && /registry alias/.test(i.message)),
    );
    assert.throws(
      () => new ImageSpec({ name: "n".repeat(200), registry: `${PUBLIC_REGISTRY_HOST}/team/group` }),
      (error: unknown) => error instanceof ValidationError && error.issues.some((i) => i.path === "name" && /2 to 205 characters/.test(i.message)),
    );
    assert.ok(new ImageSpec({ name: "app", registry: `${PUBLIC_REGISTRY_HOST}/team`, ecr: { catalogData: { description: "fine", architectures: ["ARM 64"] } } }));
  });
});
