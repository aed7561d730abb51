// `imagespec build` to ECR Public (`registry: public.ecr.aws/<alias>`), as a user runs it: AWS
// credentials in the environment, no repository created beforehand and no docker login. The ECR
// emulator stands in for AWS, reached only through configuration: AWS_ENDPOINT_URL_ECR_PUBLIC for
// the ecr-public API and IMAGESPEC_REGISTRY_ENDPOINTS for public.ecr.aws. Then anyone pulls:
// skopeo, with no credentials at all.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PUBLIC_REGISTRY_HOST, startEcrEmulator, type EcrEmulator } from "../support/ecr-emulator/index.js";
import { removeDir, run, skopeo, tempDir, type RunResult } from "../support/tools.js";

const root = join(import.meta.dirname, "..", "..");
const cli = join(root, "src", "cli", "main.ts");
const tsx = import.meta.resolve("tsx");

describe("imagespec build to ECR Public (emulated)", { timeout: 240_000 }, () => {
  let emu: EcrEmulator;
  let work: string;

  before(async () => {
    emu = await startEcrEmulator();
    work = await tempDir("imagespec-e2e-ecr-public-");
    await mkdir(join(work, "app"), { recursive: true });
    await writeFile(join(work, "app", "main.py"), "print('hello from ECR Public')\n");
  });
  after(async () => {
    await emu?.stop();
    if (work) await removeDir(work);
  });

  function env(): NodeJS.ProcessEnv {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_") && k !== "DOCKER_CONFIG" && k !== "REGISTRY_AUTH_FILE"));
    return {
      ...clean,
      ...emu.env(),
      HOME: work,
      XDG_CACHE_HOME: join(work, ".cache"),
      XDG_RUNTIME_DIR: join(work, "run"),
      AWS_CONFIG_FILE: join(work, "no-aws-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(work, "no-aws-credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
      IMAGESPEC_REGISTRY_ENDPOINTS: `${PUBLIC_REGISTRY_HOST}=${emu.publicRegistryEndpoint}`,
    };
  }
  const imagespec = (args: string[]): Promise<RunResult> => run(process.execPath, ["--import", tsx, cli, ...args], { cwd: work, env: env(), timeoutMs: 120_000 });

  it("creates the repository with the spec's catalog data, pushes with an ECR Public token, and anyone pulls the image", async () => {
    const alias = emu.accounts.owner.publicAlias;
    const spec = join(work, "imagespec.yaml");
    await writeFile(
      spec,
      [
        "name: app",
        `registry: ${PUBLIC_REGISTRY_HOST}/${alias}`,
        "base_image: scratch",
        "copy: [app]",
        "ecr:",
        "  catalog_data:",
        "    description: Hello from imagespec",
        "    architectures: [x86-64]",
        "    operating_systems: [Linux]",
        "    usage_text: docker run public.ecr.aws/alias/app",
      ].join("\n") + "\n",
    );

    const dry = await imagespec(["ecr", "ensure-repo", "--dry-run", spec]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would call ecr-public:CreateRepository \(us-east-1\)/);
    assert.match(dry.stdout, /"description": "Hello from imagespec"/);
    assert.equal(emu.publicRepository("app"), undefined, "a dry run creates nothing");

    const built = await imagespec(["build", spec]);
    assert.equal(built.code, 0, built.stderr);
    const image = /^(\S+)@(sha256:[0-9a-f]{64})$/m.exec(built.stdout);
    assert.ok(image, built.stdout);
    const [, name, digest] = image as unknown as [string, string, string];
    assert.ok(name.startsWith(`${PUBLIC_REGISTRY_HOST}/${alias}/app:`), name);
    assert.match(built.stderr, /ecr-public CreateRepository app \(us-east-1\)/);
    assert.deepEqual(emu.publicRepository("app")?.catalogData, {
      description: "Hello from imagespec",
      architectures: ["x86-64"],
      operatingSystems: ["Linux"],
      usageText: "docker run public.ecr.aws/alias/app",
    });
    assert.equal(emu.calls.filter((c) => c.service === "ecr").length, 0, "the private ECR API is not used");

    // `imagespec ecr login public.ecr.aws` prints a password the registry's token endpoint takes.
    const password = await imagespec(["ecr", "login", PUBLIC_REGISTRY_HOST]);
    assert.equal(password.code, 0, password.stderr);
    const front = emu.publicRegistryEndpoint.replace(/^http:\/\//, "");
    const endpointName = name.replace(PUBLIC_REGISTRY_HOST, front);
    const withLogin = await skopeo(["inspect", "--tls-verify=false", "--creds", `AWS:${password.stdout.trim()}`, `docker://${endpointName}`]);
    assert.equal(withLogin.code, 0, withLogin.stderr);

    // Anonymous pull: skopeo with no credentials reads the image.
    const anonymous = await skopeo(["inspect", "--tls-verify=false", "--no-creds", `docker://${endpointName}`]);
    assert.equal(anonymous.code, 0, anonymous.stderr);
    assert.equal((JSON.parse(anonymous.stdout) as { Digest: string }).Digest, digest);
    // ... but cannot push there.
    const push = await skopeo(["copy", "--src-tls-verify=false", "--src-no-creds", "--dest-tls-verify=false", "--dest-no-creds", `docker://${endpointName}`, `docker://${front}/${alias}/app:anonymous`]);
    assert.notEqual(push.code, 0, "an anonymous push is refused");
    assert.match(push.stderr, /401|unauthorized|authentication required/i, push.stderr);

    // The second build finds the image and changes nothing; the catalog data is already as wanted.
    const creates = emu.calls.filter((c) => c.operation === "CreateRepository" || c.operation === "PutRepositoryCatalogData").length;
    const second = await imagespec(["build", spec]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /catalog data unchanged/);
    assert.equal(emu.calls.filter((c) => c.operation === "CreateRepository" || c.operation === "PutRepositoryCatalogData").length, creates);
  });

  it("refuses allow_pull_from for ECR Public when the spec is loaded, with exit code 2", async () => {
    const spec = join(work, "grant.yaml");
    await writeFile(spec, ["name: app", `registry: ${PUBLIC_REGISTRY_HOST}/${emu.accounts.owner.publicAlias}`, "base_image: scratch", "ecr:", "  allow_pull_from: ['210987654321']"].join("\n") + "\n");
    const result = await imagespec(["build", spec]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /ecr\.allow_pull_from.*pulled by anyone/);
  });
});
