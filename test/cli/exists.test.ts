// `imagespec exists`, run as a child process as a user would, against real registries: present,
// absent and error are three different answers with three exit codes, credentials come from stdin
// only, and --verbose never shows a secret.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readLayout } from "../../src/oci/index.js";
import { defaultKeychain, Registry } from "../../src/registry/index.js";
import { imageName, loadSpecs } from "../../src/spec/index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, removeDir, tempDir, type RunResult, type TestImage } from "../support/tools.js";
import { imagespecCli } from "../support/cli.js";

/** No docker or podman config of the machine may answer for a test. */
const ENV = { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" };

function imagespec(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return imagespecCli(args, { env: { ...ENV, ...options.env }, ...(options.input !== undefined ? { input: options.input } : {}) });
}

/** Pushes the test image with the library under `name` on `reg`; returns the manifest digest. */
async function pushAs(reg: TestRegistry, image: TestImage, name: string): Promise<string> {
  const registry = new Registry({
    keychain: defaultKeychain({ credentials: reg.username ? { [reg.host]: { username: reg.username, password: reg.password! } } : {}, env: ENV }),
    ...(reg.caFile ? { caFile: reg.caFile } : {}),
  });
  try {
    const result = await registry.push(name, await readLayout(image.dir, { tag: image.tag }));
    return result.digest;
  } finally {
    await registry.close();
  }
}

void describe("imagespec exists", () => {
  let plain: TestRegistry;
  let basic: TestRegistry;
  let tls: TestRegistry;
  let token: TestRegistry;
  let image: TestImage;
  let work: string;
  let digest: string;

  before(async () => {
    [plain, basic, tls, token] = await Promise.all([startRegistry({ mode: "plain" }), startRegistry({ mode: "basic" }), startRegistry({ mode: "tls" }), startRegistry({ mode: "token" })]);
    image = await makeTestImage({ busybox: false, layers: [{ "etc/hello": "exists test\n" }] });
    work = await tempDir("imagespec-cli-exists-");
    digest = image.manifest.digest;
    await Promise.all([pushAs(plain, image, `${plain.host}/team/app:v1`), pushAs(basic, image, `${basic.host}/app:v1`), pushAs(tls, image, `${tls.host}/app:v1`), pushAs(token, image, `${token.host}/app:v1`)]);
  });

  after(async () => {
    await Promise.all([plain?.stop(), basic?.stop(), tls?.stop(), token?.stop()]);
    await image?.cleanup();
    if (work) await removeDir(work);
  });

  void it("exits 0 and prints present NAME@DIGEST when every image is there", async () => {
    const result = await imagespec(["exists", `${plain.host}/team/app:v1`]);
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `present ${plain.host}/team/app:v1@${digest}\n`);
  });

  void it("exits 1 when any image is absent, with a line for each, in order", async () => {
    const result = await imagespec(["exists", `${plain.host}/team/app:nope`, `${plain.host}/team/app:v1`, `${plain.host}/no/such-repo:v1`]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, `absent ${plain.host}/team/app:nope\npresent ${plain.host}/team/app:v1@${digest}\nabsent ${plain.host}/no/such-repo:v1\n`);
    assert.equal(result.stderr, "");
  });

  void it("--quiet prints nothing; the exit code answers", async () => {
    const present = await imagespec(["exists", "--quiet", `${plain.host}/team/app:v1`]);
    const absent = await imagespec(["exists", "-q", `${plain.host}/team/app:nope`]);
    assert.deepEqual([present.code, present.stdout, present.stderr], [0, "", ""]);
    assert.deepEqual([absent.code, absent.stdout, absent.stderr], [1, "", ""]);
  });

  void it("--json prints one entry per image", async () => {
    const result = await imagespec(["exists", "--json", `${plain.host}/team/app:v1`, `${plain.host}/team/app:nope`, "Not A Reference"]);
    assert.equal(result.code, 2);
    const entries = JSON.parse(result.stdout) as Record<string, unknown>[];
    assert.deepEqual(entries.slice(0, 2), [
      { input: `${plain.host}/team/app:v1`, name: `${plain.host}/team/app:v1`, status: "present", digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: image.manifestBytes.length },
      { input: `${plain.host}/team/app:nope`, name: `${plain.host}/team/app:nope`, status: "absent" },
    ]);
    const error = entries[2] as { status: string; error: { code: string; message: string; hint: string } };
    assert.equal(error.status, "error");
    assert.equal(error.error.code, "INVALID_REFERENCE");
    assert.match(error.error.message, /Not A Reference/);
    assert.ok(error.error.hint.length > 0);
  });

  void it("exits 2, not 1, on a wrong password, saying why; and never prints the password", async () => {
    const wrong = "not-the-password-8d2f";
    const result = await imagespec(["exists", "--username", basic.username!, "--password-stdin", `${basic.host}/app:v1`], { input: `${wrong}\n` });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, `error ${basic.host}/app:v1\n`);
    assert.match(result.stderr, /^error: .*401 Unauthorized/m);
    assert.match(result.stderr, /^hint: \S/m);
    assert.ok(!result.stdout.includes(wrong) && !result.stderr.includes(wrong));
  });

  void it("exits 2 without credentials on a registry that wants them (an auth failure is not absence)", async () => {
    const result = await imagespec(["exists", `${basic.host}/app:nope`]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, `error ${basic.host}/app:nope\n`);
  });

  void it("--password-stdin with the right password answers present", async () => {
    const result = await imagespec(["exists", "--username", basic.username!, "--password-stdin", `${basic.host}/app:v1`, `${basic.host}/app:nope`], { input: `${basic.password!}\n` });
    assert.equal(result.stderr, "");
    assert.equal(result.code, 1);
    assert.equal(result.stdout, `present ${basic.host}/app:v1@${digest}\nabsent ${basic.host}/app:nope\n`);
  });

  void it("refuses --password and does not echo its value", async () => {
    const result = await imagespec(["exists", "--username", "u", "--password", "hunter2-secret", `${plain.host}/team/app:v1`]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /--password is not accepted/);
    assert.match(result.stderr, /--password-stdin/);
    assert.ok(!result.stderr.includes("hunter2-secret"));
  });

  void it("--username without --password-stdin is a usage error", async () => {
    const result = await imagespec(["exists", "--username", "u", `${plain.host}/team/app:v1`]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--username needs --password-stdin/);
  });

  void it("exits 2 for a TLS registry whose CA is not trusted, and 0 with --ca-file or IMAGESPEC_CA_FILE", async () => {
    const untrusted = await imagespec(["exists", `${tls.host}/app:v1`]);
    assert.equal(untrusted.code, 2);
    assert.equal(untrusted.stdout, `error ${tls.host}/app:v1\n`);
    assert.match(untrusted.stderr, /^error: .*(certificate|TLS)/im);
    assert.match(untrusted.stderr, /^hint: .*--ca-file/m);

    const flag = await imagespec(["exists", "--ca-file", tls.caFile!, `${tls.host}/app:v1`]);
    assert.equal(flag.stderr, "");
    assert.equal(flag.code, 0);
    assert.equal(flag.stdout, `present ${tls.host}/app:v1@${digest}\n`);

    const env = await imagespec(["exists", `${tls.host}/app:v1`], { env: { IMAGESPEC_CA_FILE: tls.caFile! } });
    assert.equal(env.code, 0);
  });

  void it("--insecure-registry (or IMAGESPEC_INSECURE_REGISTRIES) skips the certificate check for that host only", async () => {
    const flag = await imagespec(["exists", "--insecure-registry", tls.host, `${tls.host}/app:v1`]);
    assert.equal(flag.code, 0);
    const env = await imagespec(["exists", `${tls.host}/app:v1`], { env: { IMAGESPEC_INSECURE_REGISTRIES: `other.example:5000, ${tls.host}` } });
    assert.equal(env.code, 0);
    const bad = await imagespec(["exists", "--insecure-registry", "https://x/", `${tls.host}/app:v1`]);
    assert.equal(bad.code, 2);
  });

  void it("one error among present images still exits 2", async () => {
    const result = await imagespec(["exists", `${plain.host}/team/app:v1`, `${tls.host}/app:v1`]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, `present ${plain.host}/team/app:v1@${digest}\nerror ${tls.host}/app:v1\n`);
  });

  void it("checks every spec of a spec file under its full image name", async () => {
    const file = join(work, "imagespec.yaml");
    await writeFile(file, `specs:\n  app:\n    name: app\n    registry: ${plain.host}/team\n  missing:\n    name: missing\n    registry: ${plain.host}/team\n`);
    const [app, missing] = await Promise.all((await loadSpecs(file)).map(({ spec }) => imageName(spec)));
    assert.match(app!, new RegExp(`^${plain.host.replace(/\./g, "\\.")}/team/app:[a-z2-7]{26}$`));
    await pushAs(plain, image, app!);

    const result = await imagespec(["exists", file]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, `present ${app!}@${digest}\nabsent ${missing!}\n`);

    const onlyApp = join(work, "app.yaml");
    await writeFile(onlyApp, `name: app\nregistry: ${plain.host}/team\n`);
    const present = await imagespec(["exists", "--quiet", onlyApp]);
    assert.equal(present.code, 0);

    const absentFile = await imagespec(["exists", join(work, "nope.yaml")]);
    assert.equal(absentFile.code, 2);
    assert.match(absentFile.stderr, /nope\.yaml: no such file/);
  });

  void it("answers for OCI layouts: a tag that is there, one that is not, a directory that is not", async () => {
    const result = await imagespec(["exists", image.ref, `oci:${image.dir}:other`, `oci:${join(work, "no-layout")}:v1`]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, `present ${image.ref}@${digest}\nabsent oci:${image.dir}:other\nabsent oci:${join(work, "no-layout")}:v1\n`);
  });

  void it("--verbose shows the HTTP exchanges with Basic credentials redacted", async () => {
    const result = await imagespec(["exists", "--verbose", "--username", basic.username!, "--password-stdin", `${basic.host}/app:v1`], { input: basic.password! });
    assert.equal(result.code, 0);
    assert.match(result.stderr, new RegExp(`^> HEAD http://${basic.host}/v2/app/manifests/v1$`, "m"));
    assert.match(result.stderr, /^< {3}docker-content-digest: sha256:/m);
    assert.match(result.stderr, /^> {3}authorization: Basic \[redacted\]$/m);
    const basicHeader = Buffer.from(`${basic.username!}:${basic.password!}`).toString("base64");
    assert.ok(!result.stderr.includes(basic.password!), "the password is printed");
    assert.ok(!result.stderr.includes(basicHeader), "the Basic header is printed");
  });

  void it("--verbose shows Bearer tokens and the token request redacted", async () => {
    const result = await imagespec(["exists", "--verbose", "--username", token.username!, "--password-stdin", `${token.host}/app:v1`], { input: `${token.password!}\n` });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `present ${token.host}/app:v1@${digest}\n`);
    // The token was really fetched and used: the registry only answers with one.
    assert.ok(token.tokenRequests().some((r) => r.authenticated && r.granted.length > 0));
    assert.match(result.stderr, /^> {3}authorization: Bearer \[redacted\]$/m);
    assert.match(result.stderr, /\/token\?/);
    // A JWT starts with base64url('{"'): eyJ. None may appear, nor the password in any form.
    assert.doesNotMatch(result.stderr, /eyJ[A-Za-z0-9_-]{8,}/);
    assert.ok(!result.stderr.includes(token.password!), "the password is printed");
    assert.ok(!result.stderr.includes(Buffer.from(`${token.username!}:${token.password!}`).toString("base64")), "the Basic header is printed");
  });
});
