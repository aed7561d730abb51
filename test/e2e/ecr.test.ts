// `imagespec build` to Amazon ECR, as a user runs it: the CLI, AWS credentials in the environment,
// no repository created beforehand and no docker login. The ECR emulator stands in for AWS and is
// reached only through configuration: AWS_ENDPOINT_URL_ECR for the API and
// IMAGESPEC_REGISTRY_ENDPOINTS for the registry host, as a user would point at a VPC endpoint.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startEcrEmulator, type EcrEmulator, type EmulatorAccount } from "../support/ecr-emulator/index.js";
import { removeDir, run, skopeo, tempDir, type RunResult } from "../support/tools.js";

const root = join(import.meta.dirname, "..", "..");
const cli = join(root, "src", "cli", "main.ts");
// The spec's folder is the working directory, so tsx is named by URL, not resolved from there.
const tsx = import.meta.resolve("tsx");

describe("imagespec build to Amazon ECR (emulated)", { timeout: 240_000 }, () => {
  let emu: EcrEmulator;
  let work: string;
  let home: string;

  before(async () => {
    emu = await startEcrEmulator();
    work = await tempDir("imagespec-e2e-ecr-");
    home = await tempDir("imagespec-e2e-ecr-home-");
    await mkdir(join(work, "app"), { recursive: true });
    await writeFile(join(work, "app", "main.py"), "print('hello from ECR')\n");
    await writeFile(join(work, "app", "settings.toml"), "mode = 'test'\n");
  });
  after(async () => {
    await emu?.stop();
    if (work) await removeDir(work);
    if (home) await removeDir(home);
  });

  /** The environment of a user with this account's AWS credentials and nothing else configured. */
  function env(account?: EmulatorAccount): NodeJS.ProcessEnv {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_") && k !== "DOCKER_CONFIG" && k !== "REGISTRY_AUTH_FILE"));
    return {
      ...clean,
      ...emu.env(account),
      HOME: home,
      XDG_CACHE_HOME: join(home, ".cache"),
      XDG_RUNTIME_DIR: join(home, "run"),
      AWS_CONFIG_FILE: join(home, "no-aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(home, "no-aws-credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
      IMAGESPEC_REGISTRY_ENDPOINTS: `${emu.registryHost()}=${emu.registryEndpoint()}`,
    };
  }

  async function writeSpec(extraEcr = ""): Promise<string> {
    const file = join(work, "imagespec.yaml");
    await writeFile(
      file,
      [
        "name: app",
        `registry: ${emu.registryHost()}/team`,
        "base_image: scratch",
        "copy:",
        "  - app",
        "  - src: app/settings.toml",
        "    dest: /etc/app/settings.toml",
        "ecr:",
        "  scan_on_push: true",
        "  tags:",
        "    team: ml",
        extraEcr,
      ].join("\n"),
    );
    return file;
  }

  const imagespec = (args: string[], account?: EmulatorAccount): Promise<RunResult> => run(process.execPath, ["--import", tsx, cli, ...args], { cwd: work, env: env(account), timeoutMs: 120_000 });

  it("builds and pushes with no repository and no docker login, pushes nothing the second time, and grants pulls only once allowPullFrom names the account", async () => {
    const spec = await writeSpec();
    assert.equal(emu.repository("team/app"), undefined, "no repository beforehand");

    // 1. First build: the repository is created with the spec's settings, the image pushed.
    const first = await imagespec(["build", spec]);
    assert.equal(first.code, 0, first.stderr);
    const image = /^(\S+)@(sha256:[0-9a-f]{64})$/m.exec(first.stdout);
    assert.ok(image, first.stdout);
    const [, name, digest] = image as unknown as [string, string, string];
    assert.ok(name.startsWith(`${emu.registryHost()}/team/app:`), name);
    assert.match(first.stderr, /ecr CreateRepository team\/app \(us-east-1\)/);

    const repo = emu.repository("team/app");
    assert.ok(repo, "the repository exists afterwards");
    assert.equal(repo.imageScanningConfiguration.scanOnPush, true);
    assert.deepEqual(repo.tags, [{ Key: "team", Value: "ml" }]);
    assert.equal(repo.imageTagMutability, "IMMUTABLE_WITH_EXCLUSION");
    assert.deepEqual(repo.imageTagMutabilityExclusionFilters, [{ filterType: "WILDCARD", filter: "imagespec-cache-*" }]);
    assert.equal(repo.encryptionConfiguration.encryptionType, "AES256");
    assert.equal(emu.calls.filter((c) => c.operation === "GetAuthorizationToken").length, 1);
    assert.ok(emu.registryRequests.some((r) => r.method === "PUT" && r.path.includes("/team/app/manifests/") && r.status === 201));

    // The owner reads the image back with our inspect (ECR login in-process) ...
    const inspected = await imagespec(["inspect", "--json", name]);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.equal((JSON.parse(inspected.stdout) as { digest: string }).digest, digest);
    // ... and with skopeo, given the password `imagespec ecr login` prints.
    const password = await imagespec(["ecr", "login", emu.registryHost()]);
    assert.equal(password.code, 0, password.stderr);
    const endpointName = name.replace(emu.registryHost(), emu.registryEndpoint().replace(/^http:\/\//, ""));
    const viaSkopeo = await skopeo(["inspect", "--tls-verify=false", "--creds", `AWS:${password.stdout.trim()}`, `docker://${endpointName}`]);
    assert.equal(viaSkopeo.code, 0, viaSkopeo.stderr);
    assert.equal((JSON.parse(viaSkopeo.stdout) as { Digest: string }).Digest, digest);

    // 2. Second build: the tag exists, nothing is pushed, no repository call is made.
    const seen = emu.registryRequests.length;
    const apiCalls = emu.calls.length;
    const second = await imagespec(["build", spec]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /exists .*nothing to build/);
    assert.ok(second.stdout.includes(`${name}@${digest}`), second.stdout);
    const writes = emu.registryRequests.slice(seen).filter((r) => r.method !== "GET" && r.method !== "HEAD");
    assert.deepEqual(writes, [], "the second run pushes nothing");
    assert.deepEqual(
      emu.calls.slice(apiCalls).map((c) => c.operation),
      [],
      "the token came from the disk cache and the repository was not described again",
    );

    // 3. The other account cannot pull.
    const other = emu.accounts.other;
    const denied = await imagespec(["inspect", name], other);
    assert.equal(denied.code, 1, denied.stdout);
    assert.match(denied.stderr, /403/);

    // 4. allowPullFrom names it: the next build (image unchanged: same tag, nothing pushed) grants the pull.
    await writeSpec(`  allow_pull_from: ["${other.accountId}"]`);
    const third = await imagespec(["build", spec]);
    assert.equal(third.code, 0, third.stderr);
    assert.ok(third.stdout.includes(`${name}@${digest}`), "same tag: the ecr block is not part of the image");
    assert.match(third.stderr, /pull grant updated/);
    const policy = JSON.parse(emu.repository("team/app")!.policyText!) as { Statement: { Sid: string; Principal: { AWS: string[] } }[] };
    assert.deepEqual(policy.Statement.map((s) => s.Sid), ["ImagespecCrossAccountPull"]);

    const allowed = await imagespec(["inspect", "--json", name], other);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal((JSON.parse(allowed.stdout) as { digest: string }).digest, digest);

    // 5. And again: the grant is already there, so the policy is not written a second time.
    const sets = emu.calls.filter((c) => c.operation === "SetRepositoryPolicy").length;
    const fourth = await imagespec(["build", spec]);
    assert.equal(fourth.code, 0, fourth.stderr);
    assert.match(fourth.stderr, /pull grant unchanged/);
    assert.equal(emu.calls.filter((c) => c.operation === "SetRepositoryPolicy").length, sets);
  });
});
