// Every validation error: the issue names the field path (as the user wrote it), the bad value and
// the fix (in the message or the hint).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "../../src/ecr/spec-vendor.js"; // the ECR spec vendor, registered as the package's entry points register it
import { ValidationError, type ValidationIssue } from "../../src/errors.js";
import { ImageSpec, specTag, verifySpecFiles } from "../../src/spec/index.js";

function issuesOf(input: Record<string, unknown>): readonly ValidationIssue[] {
  try {
    new ImageSpec(input as never, { baseDir: "/nonexistent" });
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail("the spec was accepted");
}

/** Asserts one issue at `path` whose message matches, and whose message or hint contains the fix. */
function expectIssue(input: Record<string, unknown>, path: string, message: RegExp, fix?: RegExp): void {
  const issues = issuesOf(input);
  const issue = issues.find((i) => i.path === path);
  assert.ok(issue, `no issue at ${path}; got ${JSON.stringify(issues)}`);
  assert.match(issue.message, message);
  if (fix) assert.match(`${issue.message}\n${issue.hint ?? ""}`, fix);
}

void describe("unknown fields", () => {
  void it("suggests the nearest field", () => {
    expectIssue({ name: "a", pakages: ["numpy"] }, "pakages", /unknown field "pakages"; did you mean "packages"\?/);
    expectIssue({ name: "a", baseImg: "python:3.12" }, "baseImg", /did you mean "baseImage"\?/);
    expectIssue({ name: "a", ecr: { scanOnPsh: true } }, "ecr.scanOnPsh", /did you mean "scanOnPush"\?/);
  });

  void it("suggests in snake_case for snake_case typos", () => {
    expectIssue({ name: "a", apt_pakages: ["curl"] }, "apt_pakages", /did you mean "apt_packages"\?/);
  });

  void it("lists the known fields when nothing is close", () => {
    expectIssue({ name: "a", frobnicate: 1 }, "frobnicate", /^unknown field "frobnicate"$/, /known fields here: name, registry, baseImage/);
  });

  void it("explains flytekit fields that are not supported", () => {
    expectIssue({ name: "a", pip_secret_mounts: [["a", "b"]] }, "pip_secret_mounts", /flytekit field that imagespec does not support/, /secrets are not mounted/);
    expectIssue({ name: "a", python_exec: "/usr/bin/python3" }, "python_exec", /flytekit field/, /pythonVersion or the base image/);
  });

  void it("rejects a field given in both spellings", () => {
    expectIssue({ name: "a", base_image: "python:3.12", baseImage: "python:3.11" }, "baseImage", /are the same field, given twice/, /keep one/);
  });

  void it("accepts flytekit's snake_case for every field", () => {
    const spec = new ImageSpec({
      name: "a",
      base_image: "python:3.12-slim",
      python_version: "3.12",
      apt_packages: ["curl"],
      pip_index: "https://pypi.org/simple",
      pip_extra_index_url: ["https://download.pytorch.org/whl/cpu"],
      pip_extra_args: "--no-cache-dir",
      source_root: "src",
      tag_format: "{spec_hash}-cpu",
      builder_options: { uv_image: "mirror.example.com/uv:0.8" },
      conda_packages: ["numpy"],
      conda_channels: ["conda-forge"],
      force_push: true,
      ecr: { create_repository: false, allow_pull_from: ["123456789012"], tag_mutability: "IMMUTABLE" },
    } as never);
    assert.equal(spec.baseImage, "python:3.12-slim");
    assert.deepEqual(spec.aptPackages, ["curl"]);
    assert.deepEqual(spec.pipExtraIndexUrl, ["https://download.pytorch.org/whl/cpu"]);
    assert.equal(spec.sourceRoot, "src");
    assert.equal(spec.isForcePush, true);
    assert.equal(spec.ecr.createRepository, false);
    assert.deepEqual(spec.ecr.allowPullFrom, ["123456789012"]);
  });

  void it("reports errors under the name the user wrote", () => {
    expectIssue({ name: "a", apt_packages: ["curl", "Bad Name"] }, "apt_packages[1]", /"Bad Name"/);
  });

  void it("does not check keys inside env, labels or ECR tags", () => {
    const spec = new ImageSpec({ name: "a", env: { some_thing: "1" }, labels: { "org.opencontainers.image.source": "x" }, ecr: { tags: { cost_center: "42" } } });
    assert.deepEqual(spec.env, { some_thing: "1" });
  });

  void it("a key named like an Object.prototype member is an unknown field, not a flytekit one", () => {
    expectIssue({ name: "a", constructor: 1 }, "constructor", /^unknown field "constructor"/);
    expectIssue({ name: "a", builder: "toString" }, "builder", /^"toString" is not one of "auto", "native"/);
  });
});

void describe("flytekit names", () => {
  void it("builders default, envd and noop: refused with what to use", () => {
    expectIssue({ name: "a", builder: "default" }, "builder", /^"default" is a flytekit builder that imagespec does not have: .*runs docker buildx; here that is builder: docker/);
    expectIssue({ name: "a", builder: "envd" }, "builder", /^"envd" is a flytekit builder .*no envd builder; use builder: auto/);
    expectIssue({ name: "a", builder: "noop" }, "builder", /^"noop" is a flytekit builder .*give the image reference itself where the image is used/);
  });

  void it("runtime_packages and builder_config: refused with what imagespec has instead", () => {
    expectIssue({ name: "a", runtime_packages: ["numpy"] }, "runtime_packages", /flytekit field that imagespec does not support: .*put them in packages \(or requirements\)/, /docs\/spec\.md says, for every flytekit field/);
    expectIssue({ name: "a", builder_config: { uv_image: "x/uv:1" } }, "builder_config", /flytekit field .*builderOptions\.uvImage and builderOptions\.micromambaImage/);
    // Only as spec fields: inside builderOptions the word is just an unknown key.
    expectIssue({ name: "a", builderOptions: { cuda: "12" } }, "builderOptions.cuda", /^unknown field "cuda"$/);
  });

  void it("builderOptions: snake_case keys are accepted, as flytekit writes them", () => {
    const spec = new ImageSpec({ name: "a", builder: "docker", builder_options: { uv_image: "mirror.example.com/uv:0.8", docker_builder: "ci" } } as never);
    assert.deepEqual(spec.builderOptions, { uvImage: "mirror.example.com/uv:0.8", dockerBuilder: "ci" });
  });

  void it("builderOptions: an unknown key is an error with the nearest key, in the user's style", () => {
    expectIssue({ name: "a", builder_options: { uv_imgae: "x/uv:1" } }, "builder_options.uv_imgae", /unknown field "uv_imgae"; did you mean "uv_image"\?/);
    expectIssue({ name: "a", builderOptions: { aptMirorr: "http://m/debian" } }, "builderOptions.aptMirorr", /did you mean "aptMirror"\?/);
    expectIssue({ name: "a", builderOptions: { compression: "zstd" } }, "builderOptions.compression", /^unknown field "compression"$/, /known fields here: .*uvImage/);
  });

  void it("builderOptions: each key must be one the spec's builder reads", () => {
    expectIssue({ name: "a", builder: "native", builderOptions: { uvImage: "x/uv:1" } }, "builderOptions.uvImage", /^builder native does not read this option; docker, podman, buildah, buildkit read it$/, /builder native reads aptMirror/);
    expectIssue({ name: "a", builder: "podman", builder_options: { apt_mirror: "http://m/debian" } }, "builder_options.apt_mirror", /^builder podman does not read this option; native reads it$/);
    expectIssue({ name: "a", builder: "buildah", builderOptions: { buildkitAddress: "tcp://b:1234" } }, "builderOptions.buildkitAddress", /buildkit reads it/);
    // auto may pick any builder, so every known key is accepted.
    const auto = new ImageSpec({ name: "a", builderOptions: { aptMirror: "http://m/debian", uvImage: "x/uv:1", buildkitAddress: "tcp://b:1234" } });
    assert.equal(auto.builderOptions.uvImage, "x/uv:1");
  });
});

void describe("field values", () => {
  void it("name: required, and a valid repository name", () => {
    expectIssue({ packages: [] }, "name", /^required/, /name: my-app/);
    expectIssue({ name: "my app" }, "name", /"my app" is not a valid image name/, /e\.g\. my-app/);
    expectIssue({ name: "-app" }, "name", /not a valid image name/);
  });

  void it("name is lower-cased like flytekit does", () => {
    assert.equal(new ImageSpec({ name: "MyApp" }).name, "myapp");
  });

  void it("a wrong type says what was expected and what was given", () => {
    expectIssue({ name: "a", packages: "numpy" }, "packages", /expected a list, got "numpy"/);
    expectIssue({ name: "a", env: ["A=1"] }, "env", /expected a mapping, got a list/);
    expectIssue({ name: "a", forcePush: "yes" }, "forcePush", /expected true or false, got "yes"/);
  });

  void it("registry: host syntax", () => {
    expectIssue({ name: "a", registry: "localhost:99999" }, "registry", /"99999" is not a valid port/, /host\[:port\]/);
  });

  void it("registry: ECR region typos get a suggestion", () => {
    expectIssue({ name: "a", registry: "123456789012.dkr.ecr.us-eas-1.amazonaws.com" }, "registry", /did you mean us-east-1\?/);
    expectIssue({ name: "a", registry: "123456789012.dkr.ecr.us-eas-1.amazonaws.com/team" }, "registry", /"123456789012\.dkr\.ecr\.us-eas-1\.amazonaws\.com\/team"/);
  });

  void it("registry: ECR account ids are 12 digits", () => {
    expectIssue({ name: "a", registry: "1234.dkr.ecr.us-east-1.amazonaws.com" }, "registry", /account id "1234" is not 12 digits/, /12-digit AWS account id/);
  });

  void it("registry: ECR Public needs an alias", () => {
    expectIssue({ name: "a", registry: "public.ecr.aws" }, "registry", /ECR Public needs your registry alias/, /public\.ecr\.aws\/<alias>/);
    assert.equal(new ImageSpec({ name: "app", registry: "public.ecr.aws/team" }).repository(), "team/app");
  });

  void it("registry: an unknown, well-formed AWS region is a warning, not an error", () => {
    const spec = new ImageSpec({ name: "a", registry: "123456789012.dkr.ecr.xx-newplace-1.amazonaws.com" });
    assert.equal(spec.warnings.length, 1);
    assert.equal(spec.warnings[0]!.path, "registry");
    assert.match(spec.warnings[0]!.message, /"xx-newplace-1" is not among the aws regions/);
    assert.deepEqual(new ImageSpec({ name: "a", registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com" }).warnings, []);
  });

  void it("ecr settings without an ECR registry are a warning", () => {
    const spec = new ImageSpec({ name: "a", registry: "ghcr.io/org", ecr: { scanOnPush: true } });
    assert.match(spec.warnings[0]?.message ?? "", /ecr settings are ignored: registry "ghcr\.io\/org" is not Amazon ECR/);
  });

  void it("baseImage: a reference, or a nested spec whose problems are prefixed", () => {
    expectIssue({ name: "a", baseImage: "Python:3.12" }, "baseImage", /invalid image reference "Python:3\.12"/, /lower case/);
    expectIssue({ name: "a", baseImage: 42 }, "baseImage", /expected an image reference .* or a nested ImageSpec/);
    expectIssue({ name: "a", base_image: { name: "b", packages: ["numpy=>1"] } }, "base_image.packages[0]", /did you mean ">="\?/);
    expectIssue({ name: "a", baseImage: { packages: [] } }, "baseImage.name", /^required/);
  });

  void it("pythonVersion: a string like 3.12; YAML numbers are refused with the reason", () => {
    expectIssue({ name: "a", python_version: 3.1 }, "python_version", /3\.1 is a number/, /quote it/);
    expectIssue({ name: "a", pythonVersion: "py3.12" }, "pythonVersion", /"py3\.12" is not a Python 3 version: expected major\.minor like "3\.12"/);
  });

  void it("packages: PEP 508", () => {
    expectIssue({ name: "a", packages: ["numpy", "pandas", "numpy=>1.0"] }, "packages[2]", /^"numpy=>1\.0" is not a PEP 508 requirement: .*did you mean ">="\?/);
    expectIssue({ name: "a", packages: ["git+https://github.com/o/p"] }, "packages[0]", /write name @ url/);
  });

  void it("aptPackages: Debian policy names, optional =version and :arch", () => {
    expectIssue({ name: "a", aptPackages: ["Curl"] }, "aptPackages[0]", /did you mean "curl"\?/);
    expectIssue({ name: "a", aptPackages: ["curl>=7"] }, "aptPackages[0]", /single '='/, /name\[:arch\]\[=version\]/);
  });

  void it("condaChannels: one word each", () => {
    expectIssue({ name: "a", condaChannels: ["conda forge"] }, "condaChannels[0]", /"conda forge" must be one word/);
  });

  void it("env: names without '=', values scalars", () => {
    expectIssue({ name: "a", env: { "A=B": "1" } }, 'env["A=B"]', /"A=B" is not an environment variable name: .*no '='/);
    expectIssue({ name: "a", env: { A: { nested: 1 } } }, "env.A", /expected a string/);
    assert.deepEqual(new ImageSpec({ name: "a", env: { PORT: 8080, DEBUG: true } as never }).env, { PORT: "8080", DEBUG: "true" });
  });

  void it("copy and sourceRoot: relative paths inside the spec folder", () => {
    expectIssue({ name: "a", copy: ["/etc/passwd"] }, "copy[0]", /"\/etc\/passwd" is absolute; write it relative to the spec file's folder/);
    expectIssue({ name: "a", copy: ["src/../../secrets"] }, "copy[0]", /goes up with '\.\.'/, /move the spec file up/);
    expectIssue({ name: "a", copy: [{ src: "src\\app" }] }, "copy[0].src", /uses '\\'; write paths with '\/'/);
    expectIssue({ name: "a", copy: [{ src: "a", dst: "b" }] }, "copy[0].dst", /did you mean "dest"\?/);
    expectIssue({ name: "a", copy: [{ src: "a", dest: "../b" }] }, "copy[0].dest", /is not a destination/, /relative destination lands under workdir/);
    expectIssue({ name: "a", copy: [7] }, "copy[0]", /expected a relative path \(like "src"\) or \{src, dest\}/);
    expectIssue({ name: "a", sourceRoot: "/home/me/project" }, "sourceRoot", /is absolute/);
    expectIssue({ name: "a", source_root: "../project" }, "source_root", /goes up with '\.\.'/);
  });

  void it("platform: os/arch, linux only, one or several", () => {
    expectIssue({ name: "a", platform: "linux/amd64,linux/sparc" }, "platform", /invalid platform "linux\/sparc": unknown architecture "sparc"/, /os\/arch/);
    expectIssue({ name: "a", platform: ["linux/amd64", "amd64"] }, "platform[1]", /expected os\/arch/);
    expectIssue({ name: "a", platform: "windows/amd64" }, "platform", /only linux images can be built/);
    expectIssue({ name: "a", platform: [] }, "platform", /the platform list is empty/);
    assert.deepEqual(new ImageSpec({ name: "a", platform: "linux/x86_64, linux/arm64/v8" }).platform, ["linux/amd64", "linux/arm64"]);
  });

  void it("pipIndex and pipExtraIndexUrl: URLs", () => {
    expectIssue({ name: "a", pipIndex: "pypi.org/simple" }, "pipIndex", /"pypi\.org\/simple" is not an http\(s\) or file URL/, /https:\/\/pypi\.org\/simple/);
    expectIssue({ name: "a", pipExtraIndexUrl: ["https://ok.example/simple", "nope"] }, "pipExtraIndexUrl[1]", /"nope" is not an http/);
  });

  void it("entrypoint and cmd: lists of arguments", () => {
    expectIssue({ name: "a", entrypoint: "python main.py" }, "entrypoint", /expected a list of arguments, like \["python", "main\.py"\]/);
  });

  void it("workdir: absolute", () => {
    expectIssue({ name: "a", workdir: "app" }, "workdir", /"app" is not absolute/, /start with '\/'/);
  });

  void it("user: name, uid, or pairs", () => {
    expectIssue({ name: "a", user: "root user" }, "user", /expected name, uid, name:group or uid:gid/);
    assert.equal(new ImageSpec({ name: "a", user: "1000:1000" }).user, "1000:1000");
  });

  void it("tagFormat: contains {spec_hash} and makes a valid tag", () => {
    expectIssue({ name: "a", tagFormat: "v1" }, "tagFormat", /has no \{spec_hash\}/, /"\{spec_hash\}-gpu"/);
    expectIssue({ name: "a", tagFormat: "{spec_hash}-{date}" }, "tagFormat", /unknown placeholder \{date\}/);
    expectIssue({ name: "a", tagFormat: "{spec_hash} gpu" }, "tagFormat", /does not make a valid tag/);
    expectIssue({ name: "a", tagFormat: `{spec_hash}${"x".repeat(110)}` }, "tagFormat", /at most 128 characters/);
  });

  void it("builder: one of the known builders", () => {
    expectIssue({ name: "a", builder: "dokcer" }, "builder", /"dokcer" is not one of "auto", "native", "docker".*; did you mean "docker"\?/);
  });

  void it("ecr block", () => {
    expectIssue({ name: "a", ecr: { tagMutability: "IMUTABLE" } }, "ecr.tagMutability", /did you mean "IMMUTABLE"\?/);
    expectIssue({ name: "a", ecr: { allowPullFrom: ["12345"] } }, "ecr.allowPullFrom[0]", /neither a 12-digit AWS account id nor an IAM role\/user ARN/, /arn:aws:iam::123456789012:role\/name/);
    expectIssue({ name: "a", ecr: { encryption: { kmsKey: "alias/x" } } }, "ecr.encryption.kmsKey", /needs encryption type KMS/, /type: KMS/);
    expectIssue({ name: "a", ecr: { tagMutability: "IMMUTABLE_WITH_EXCLUSION" } }, "ecr.tagMutabilityExclusions", /needs tagMutabilityExclusions/);
    expectIssue({ name: "a", ecr: { lifecyclePolicy: { rules: [{ rulePriority: 0, selection: { tagStatus: "any" }, action: { type: "expire" } }] } } }, "ecr.lifecyclePolicy.rules[0].rulePriority", /rulePriority must be a whole number of 1 or more/);
    const spec = new ImageSpec({
      name: "a",
      ecr: {
        allowPullFrom: ["123456789012", "arn:aws:iam::210987654321:role/ci", "arn:aws-cn:iam::123456789012:root"],
        encryption: { type: "KMS", kmsKey: "arn:aws:kms:us-east-1:123456789012:key/abc" },
        tagMutability: "IMMUTABLE_WITH_EXCLUSION",
        tagMutabilityExclusions: ["latest"],
      },
    });
    assert.equal(spec.ecr.encryption.type, "KMS");
  });

  void it("reports every problem at once", () => {
    const issues = issuesOf({ name: "a", pakages: [], packages: ["x=1"], workdir: "rel", platform: "linux/sparc" });
    assert.deepEqual(issues.map((i) => i.path).sort(), ["packages[0]", "pakages", "platform", "workdir"]);
  });

  void it("a spec that is not a mapping", () => {
    assert.throws(() => new ImageSpec("name: a" as never), (error: unknown) => error instanceof ValidationError && /expected a mapping of spec fields, got "name: a"/.test(error.message));
  });
});

void describe("files named by the spec", () => {
  void it("a missing requirements file names the resolved path", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagespec-validate-"));
    const spec = new ImageSpec({ name: "a", requirements: "requirements.txt" }, { baseDir: dir });
    await assert.rejects(verifySpecFiles(spec), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      const issue = error.issues[0]!;
      assert.equal(issue.path, "requirements");
      assert.ok(issue.message.includes(join(dir, "requirements.txt")), issue.message);
      assert.match(issue.message, /"requirements\.txt" does not exist/);
      assert.match(issue.hint ?? "", /resolve against the spec file's folder/);
      return true;
    });
    // Computing the tag fails the same way, before anything is hashed.
    await assert.rejects(specTag(spec), (error: unknown) => error instanceof ValidationError && error.issues[0]?.path === "requirements");
  });

  void it("copy sources must exist; sourceRoot must be a directory; requirements a file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagespec-validate-"));
    await writeFile(join(dir, "file.txt"), "x");
    await mkdir(join(dir, "folder"));
    const spec = new ImageSpec({ name: "a", copy: ["missing", { src: "file.txt" }], sourceRoot: "file.txt", requirements: "folder" }, { baseDir: dir });
    await assert.rejects(verifySpecFiles(spec), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      const byPath = Object.fromEntries(error.issues.map((i) => [i.path, i.message]));
      assert.deepEqual(Object.keys(byPath).sort(), ["copy[0]", "requirements", "sourceRoot"]);
      assert.match(byPath["copy[0]"]!, /"missing" does not exist/);
      assert.match(byPath.sourceRoot!, /"file\.txt" is not a directory/);
      assert.match(byPath.requirements!, /"folder" is not a file/);
      return true;
    });
  });
});
