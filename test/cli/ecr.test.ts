// `imagespec ecr login|ensure-repo|grant-pull` against the ECR emulator (API endpoint from
// AWS_ENDPOINT_URL_ECR, credentials from the environment), as a user runs them.
import assert from "node:assert/strict";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startEcrEmulator, type EcrEmulator } from "../support/ecr-emulator/index.js";
import { removeDir, run, tempDir, type RunResult } from "../support/tools.js";

const root = join(import.meta.dirname, "..", "..");
const tsx = import.meta.resolve("tsx");
const cli = join(root, "src", "cli", "main.ts");

let emu: EcrEmulator;
let work: string;

before(async () => {
  emu = await startEcrEmulator();
  work = await tempDir("imagespec-cli-ecr-");
});
after(async () => {
  await emu?.stop();
  if (work) await removeDir(work);
});

function imagespec(args: string[]): Promise<RunResult> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")));
  return run(process.execPath, ["--import", tsx, cli, ...args], {
    cwd: work,
    env: {
      ...clean,
      ...emu.env(),
      HOME: work,
      XDG_CACHE_HOME: join(work, "cache"),
      AWS_CONFIG_FILE: join(work, "no-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(work, "no-credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
    },
    timeoutMs: 60_000,
  });
}

async function spec(name: string, ecr: string[]): Promise<string> {
  const file = join(work, `${name}.yaml`);
  await writeFile(file, [`name: ${name}`, `registry: ${emu.registryHost()}/team`, "base_image: scratch", ...(ecr.length > 0 ? ["ecr:", ...ecr.map((l) => `  ${l}`)] : [])].join("\n") + "\n");
  return file;
}

const calls = (operation: string): number => emu.calls.filter((c) => c.operation === operation).length;

describe("imagespec ecr login", () => {
  it("--docker-config adds an auths entry (0600) and keeps every other entry", async () => {
    const config = join(work, "docker", "config.json");
    await mkdir(join(work, "docker"));
    const existing = { auths: { "ghcr.io": { auth: "dXNlcjpwYXNz" } }, credHelpers: { "gcr.io": "gcloud" }, psFormat: "table" };
    await writeFile(config, JSON.stringify(existing), { mode: 0o644 });
    const result = await imagespec(["ecr", "login", "--docker-config", config, emu.registryHost()]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "", "the password is not printed when it is written");
    const written = JSON.parse(await readFile(config, "utf8")) as { auths: Record<string, { auth: string }>; credHelpers: unknown; psFormat: unknown };
    assert.deepEqual(written.auths["ghcr.io"], existing.auths["ghcr.io"]);
    assert.deepEqual(written.credHelpers, existing.credHelpers);
    assert.equal(written.psFormat, "table");
    const auth = Buffer.from(written.auths[emu.registryHost()]!.auth, "base64").toString();
    assert.match(auth, /^AWS:\S+$/);
    assert.equal((await stat(config)).mode & 0o777, 0o600);
    // Docker users can now pull: the registry takes the entry's credentials.
    const res = await fetch(`${emu.registryEndpoint()}/v2/`, { headers: { authorization: `Basic ${written.auths[emu.registryHost()]!.auth}` } });
    assert.equal(res.status, 200);
  });

  it("--aws-profile picks a profile from the shared config (no keys in the environment)", async () => {
    const owner = emu.accounts.owner;
    const configFile = join(work, "aws-config");
    await writeFile(configFile, `[profile emu]\naws_access_key_id = ${owner.accessKeyId}\naws_secret_access_key = ${owner.secretAccessKey}\nregion = us-east-1\n`, { mode: 0o600 });
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")));
    const env = { ...clean, HOME: work, XDG_CACHE_HOME: join(work, "profile-cache"), AWS_CONFIG_FILE: configFile, AWS_SHARED_CREDENTIALS_FILE: join(work, "no-credentials"), AWS_EC2_METADATA_DISABLED: "true", AWS_ENDPOINT_URL_ECR: emu.apiEndpoint };
    const withProfile = await run(process.execPath, ["--import", tsx, cli, "ecr", "login", "--aws-profile", "emu", emu.registryHost()], { cwd: work, env, timeoutMs: 60_000 });
    assert.equal(withProfile.code, 0, withProfile.stderr);
    assert.match(withProfile.stdout, /^\S{20,}\n$/);
    const without = await run(process.execPath, ["--import", tsx, cli, "ecr", "login", emu.registryHost()], { cwd: work, env, timeoutMs: 60_000 });
    assert.equal(without.code, 1, without.stdout);
    assert.match(without.stderr, /no AWS credentials/);
    assert.match(without.stderr, /hint: .*AWS_PROFILE/);
  });

  it("refuses a host that is not ECR, and suggests the region for a typo", async () => {
    const notEcr = await imagespec(["ecr", "login", "ghcr.io"]);
    assert.equal(notEcr.code, 2, notEcr.stderr);
    assert.match(notEcr.stderr, /not an Amazon ECR registry host/);
    const typo = await imagespec(["ecr", "login", "111111111111.dkr.ecr.us-eas-1.amazonaws.com"]);
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /did you mean us-east-1\?/);
  });
});

describe("imagespec ecr ensure-repo / grant-pull", () => {
  it("--dry-run reads but only prints the writes, with the policy JSON; without it, creates once", async () => {
    const file = await spec("planned", ["scan_on_push: true", `allow_pull_from: ["${emu.accounts.other.accountId}"]`]);
    const creates = calls("CreateRepository");
    const dry = await imagespec(["ecr", "ensure-repo", "--dry-run", file]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(calls("CreateRepository"), creates, "nothing created");
    assert.equal(emu.repository("team/planned"), undefined);
    assert.match(dry.stdout, /would call ecr:CreateRepository \(us-east-1\)/);
    assert.match(dry.stdout, /"scanOnPush": true/);
    assert.match(dry.stdout, /would call ecr:SetRepositoryPolicy/);
    assert.match(dry.stdout, new RegExp(`"arn:aws:iam::${emu.accounts.other.accountId}:root"`));
    assert.match(dry.stdout, /"Sid": "ImagespecCrossAccountPull"/);
    assert.match(dry.stdout, /team\/planned: repository would be created, pull grant would be updated/);

    const real = await imagespec(["ecr", "ensure-repo", file]);
    assert.equal(real.code, 0, real.stderr);
    assert.match(real.stdout, /team\/planned: repository created, pull grant updated/);
    assert.equal(emu.repository("team/planned")?.imageScanningConfiguration.scanOnPush, true);
    const again = await imagespec(["ecr", "ensure-repo", file]);
    assert.match(again.stdout, /team\/planned: repository exists, pull grant unchanged/);
  });

  it("grant-pull merges principals into the repository policy; --dry-run changes nothing", async () => {
    const file = await spec("granted", []);
    assert.equal((await imagespec(["ecr", "ensure-repo", file])).code, 0);
    const role = "arn:aws:iam::333333333333:role/deployer";
    const dry = await imagespec(["ecr", "grant-pull", "--dry-run", file, role]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would call ecr:SetRepositoryPolicy/);
    assert.equal(emu.repository("team/granted")?.policyText, undefined);

    // ECR refuses roles that do not exist ('Principal not found'): this one exists.
    emu.addIamPrincipal(role);
    const granted = await imagespec(["ecr", "grant-pull", file, role, emu.accounts.other.accountId]);
    assert.equal(granted.code, 0, granted.stderr);
    assert.match(granted.stdout, /pull grant updated/);
    const policy = JSON.parse(emu.repository("team/granted")!.policyText!) as { Statement: { Principal: { AWS: string[] } }[] };
    assert.deepEqual(policy.Statement[0]!.Principal.AWS, [`arn:aws:iam::${emu.accounts.other.accountId}:root`, role]);

    const bad = await imagespec(["ecr", "grant-pull", file, "12345"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /neither a 12-digit AWS account id nor an IAM role\/user ARN/);
  });
});

describe("--registry-endpoint", () => {
  it("reaches an ECR host at its endpoint given as a flag, with in-process login; a malformed mapping is a usage error", async () => {
    const file = await spec("flagged", []);
    assert.equal((await imagespec(["ecr", "ensure-repo", file])).code, 0);
    const mapping = `${emu.registryHost()}=${emu.registryEndpoint()}`;
    const absent = await imagespec(["exists", "--registry-endpoint", mapping, `${emu.registryHost()}/team/flagged:nope`]);
    assert.equal(absent.code, 1, absent.stderr);
    assert.match(absent.stdout, /absent/);
    // Without the mapping the real AWS host is tried; with a broken one the flag is refused.
    const broken = await imagespec(["exists", "--registry-endpoint", `${emu.registryHost()}=ftp://x`, `${emu.registryHost()}/team/flagged:nope`]);
    assert.equal(broken.code, 2, broken.stderr);
    const badEnv = await run(process.execPath, ["--import", tsx, cli, "exists", `${emu.registryHost()}/team/flagged:nope`], {
      cwd: work,
      env: { ...process.env, IMAGESPEC_REGISTRY_ENDPOINTS: "no-equals-sign" },
      timeoutMs: 60_000,
    });
    assert.equal(badEnv.code, 2, badEnv.stderr);
    assert.match(badEnv.stderr, /IMAGESPEC_REGISTRY_ENDPOINTS: registry endpoint "no-equals-sign" is not HOST=URL/);
  });
});

