// Dropped connections on an Amazon ECR host, through the real CLI against the ECR emulator (its
// registry front reached through the fault proxy by --registry-endpoint): ECR drops the upload to a
// repository that does not exist, and only there, confirmed by DescribeRepositories, is a dropped
// connection read as "the repository does not exist". A drop on a repository that exists is a
// network fault like anywhere else: retried, and the push completes.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { imagespecCli } from "../support/cli.js";
import { startEcrEmulator, type EcrEmulator } from "../support/ecr-emulator/index.js";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.js";
import { makeTestImage, removeDir, tempDir, type RunResult, type TestImage } from "../support/tools.js";

let emu: EcrEmulator;
let proxy: FaultProxy;
let work: string;
let image: TestImage;

before(async () => {
  emu = await startEcrEmulator();
  proxy = await startFaultProxy({ host: new URL(emu.registryEndpoint()).host });
  work = await tempDir("imagespec-faults-ecr-");
  image = await makeTestImage({ busybox: false, gzip: false, layers: [{ "opt/big.bin": randomBytes(3 << 20) }] });
});

after(async () => {
  await image?.cleanup();
  await proxy?.stop();
  await emu?.stop();
  if (work) await removeDir(work);
});

/** The CLI with the emulator's AWS setup; registry commands reach the ECR host through the proxy. */
function imagespec(args: string[], viaProxy = true): Promise<RunResult> {
  return imagespecCli([...args, ...(viaProxy ? ["--registry-endpoint", `${emu.registryHost()}=http://${proxy.host}`] : [])], {
    cwd: work,
    env: {
      PATH: process.env.PATH,
      HOME: work,
      XDG_CACHE_HOME: join(work, "cache"),
      ...emu.env(),
      AWS_CONFIG_FILE: join(work, "no-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(work, "no-credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
    },
    timeoutMs: 120_000,
  });
}

const described = (name: string): number => emu.calls.filter((c) => c.operation === "DescribeRepositories" && JSON.stringify(c.input).includes(name)).length;

describe("dropped uploads on an ECR host", () => {
  it("to a repository that does not exist: the ECR API confirms it, and the error says so with the command to create it", async () => {
    proxy.setRules([]);
    const r = await imagespec(["copy", "-q", image.ref, `${emu.registryHost()}/never/made:v1`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error: ECR repository never\/made does not exist in account \d{12} \(us-east-1\): POST .*\/v2\/never\/made\/blobs\/uploads\/ failed .*DescribeRepositories confirms/m);
    assert.match(r.stderr, /^hint: create it: aws ecr create-repository --repository-name never\/made --region us-east-1/m);
    assert.ok(described("never/made") > 0, "DescribeRepositories was asked");
  });

  it("to a repository that exists: a reset mid-upload is retried and the copy completes", async () => {
    const spec = join(work, "first.yaml");
    await writeFile(spec, `name: first\nregistry: ${emu.registryHost()}/team\nbase_image: scratch\n`);
    const ensure = await imagespec(["ecr", "ensure-repo", spec], false);
    assert.equal(ensure.code, 0, ensure.stderr);
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }]);
    proxy.resetRequests();
    const r = await imagespec(["copy", "-q", image.ref, `${emu.registryHost()}/team/first:v2`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy.requests.filter((q) => q.fault === "reset-upload").length, 1, "the fault was injected");
    assert.match(r.stdout, new RegExp(`team/first:v2@${image.manifest.digest}`));
  });
});
