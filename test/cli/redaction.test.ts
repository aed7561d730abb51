// Credentials never come back out: a password typed into a reference, --registry-endpoint or
// --insecure-registry is not echoed in the usage error, and pip_index credentials neither show
// in `tag --explain` nor change the tag (a rotated password keeps the image's name).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { redactSecrets, redactUrl } from "../../src/reference/index.js";
import { imagespecCli } from "../support/cli.js";
import { removeDir, tempDir } from "../support/tools.js";

const SECRET = "s3cr3t-Pa55";

describe("what is redacted", () => {
  let dir: string;
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    imagespecCli(args, { cwd: dir, env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home", ...env } });

  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await removeDir(dir);
  });

  it("redactUrl and redactSecrets: one rule for URLs, references and free text", () => {
    assert.equal(redactUrl(`https://me:${SECRET}@pypi.example.com/simple/?token=${SECRET}&digest=sha256:ab`), "https://[redacted]@pypi.example.com/simple/?token=[redacted]&digest=sha256%3Aab");
    assert.equal(redactSecrets(`invalid image reference "me:${SECRET}@host.example/app:v1"`), 'invalid image reference "[redacted]@host.example/app:v1"');
    assert.equal(redactSecrets(`endpoint https://me:${SECRET}@e.example:443 refused`), "endpoint https://[redacted]@e.example:443 refused");
    // A pinned reference is not a credential.
    assert.equal(redactSecrets("app:v1@sha256:0123456789abcdef0123456789abcdef"), "app:v1@sha256:0123456789abcdef0123456789abcdef");
    assert.equal(redactSecrets("localhost:5000/team/app:v1"), "localhost:5000/team/app:v1");
    assert.equal(redactSecrets(`--insecure-registry '${SECRET}@registry.example.com'`), "--insecure-registry '[redacted]@registry.example.com'", "a token alone as user info");
    const long = `${"a".repeat(2_000_000)} https://me:${SECRET}@h.example`;
    assert.ok(redactSecrets(long).endsWith(" https://[redacted]@h.example"), "a long message is redacted (the scan is not quadratic, so this returns)");
    const once = redactSecrets(`a https://me:${SECRET}@e.example b me:${SECRET}@h.example/x`);
    assert.equal(redactSecrets(once), once, "redacting twice changes nothing");
  });

  const usage: [string, string[]][] = [
    ["a reference with user:password@", ["exists", `me:${SECRET}@registry.example.com/team/app:v1`]],
    ["a reference with a scheme and credentials", ["inspect", `https://me:${SECRET}@registry.example.com/team/app:v1`]],
    ["a copy source with credentials", ["copy", `me:${SECRET}@registry.example.com/app:v1`, "oci:out:v1"]],
    ["--insecure-registry with credentials", ["exists", "--insecure-registry", `me:${SECRET}@registry.example.com`, "registry.example.com/app:v1"]],
    ["--insecure-registry with a token as user info", ["exists", "--insecure-registry", `${SECRET}@registry.example.com`, "registry.example.com/app:v1"]],
    ["--registry-endpoint with credentials in the URL", ["exists", "--registry-endpoint", `registry.example.com=https://me:${SECRET}@mirror.example.com`, "registry.example.com/app:v1"]],
    ["--registry-endpoint with a bad host and credentials", ["exists", "--registry-endpoint", `me:${SECRET}@bad host=https://mirror.example.com`, "registry.example.com/app:v1"]],
  ];
  for (const [what, args] of usage) {
    it(`${what}: exit 2, and the password is not echoed`, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
      assert.ok(!r.stderr.includes(SECRET) && !r.stdout.includes(SECRET), r.stderr);
      assert.match(r.stderr, /\[redacted\]|^error: /m);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    });
  }

  it("credentials in IMAGESPEC_INSECURE_REGISTRIES or IMAGESPEC_REGISTRY_ENDPOINTS are not echoed either", async () => {
    for (const env of [{ IMAGESPEC_INSECURE_REGISTRIES: `me:${SECRET}@registry.example.com` }, { IMAGESPEC_REGISTRY_ENDPOINTS: `registry.example.com=https://me:${SECRET}@mirror.example.com` }]) {
      const r = await cli(["exists", "registry.example.com/app:v1"], env);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(!r.stderr.includes(SECRET) && !r.stdout.includes(SECRET), r.stderr);
      assert.match(r.stderr, /\[redacted\]@/);
    }
  });

  it("imagespec config shows a setting with credentials in it redacted", async () => {
    for (const args of [["config"], ["config", "--json"]]) {
      const r = await cli(args, { IMAGESPEC_REGISTRY: `me:${SECRET}@registry.example.com/team` });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes(SECRET), r.stdout);
      assert.match(r.stdout, /\[redacted\]@registry\.example\.com\/team/);
    }
  });

  it("pip_index credentials: not in tag --explain, and not in the tag (a rotated password keeps it)", async () => {
    const spec = (index: string, extra: string) =>
      ["name: app", "base_image: python:3.12-slim", "packages: [six]", `pip_index: "${index}"`, `pip_extra_index_url: ["${extra}"]`, `pip_extra_args: "--trusted-host x --index-url ${index}"`, ""].join("\n");
    await writeFile(join(dir, "a.yaml"), spec(`https://me:${SECRET}@pypi.example.com/simple`, `https://me:${SECRET}@extra.example.com/simple`));
    await writeFile(join(dir, "b.yaml"), spec("https://me:rotated@pypi.example.com/simple", "https://me:rotated@extra.example.com/simple"));
    await writeFile(join(dir, "c.yaml"), spec("https://pypi.example.com/simple", "https://extra.example.com/simple"));
    await writeFile(join(dir, "d.yaml"), spec("https://pypi.example.com/other", "https://extra.example.com/simple"));
    const explain = await cli(["tag", "--explain", "a.yaml"]);
    assert.equal(explain.code, 0, explain.stderr);
    assert.ok(!explain.stdout.includes(SECRET) && !explain.stderr.includes(SECRET), explain.stdout);
    assert.match(explain.stdout, /"pipIndex": "https:\/\/pypi\.example\.com\/simple"/);
    const tags = await cli(["tag", "a.yaml", "b.yaml", "c.yaml", "d.yaml"]);
    assert.equal(tags.code, 0, tags.stderr);
    const [a, b, c, d] = tags.stdout.trim().split("\n");
    assert.equal(a, b, "a rotated password keeps the tag");
    assert.equal(a, c, "credentials are not part of the spec's identity");
    assert.notEqual(a, d, "another index is another image");
    const dry = await cli(["build", "--dry-run", "a.yaml"]);
    assert.ok(!dry.stdout.includes(SECRET) && !dry.stderr.includes(SECRET), `${dry.stdout}\n${dry.stderr}`);
  });
});
