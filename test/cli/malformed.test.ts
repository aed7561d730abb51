// Malformed input through the real CLI, table-driven: spec files (`imagespec tag`, every file
// reported in one run) and image references (`imagespec exists` / `inspect` / `copy`). Every case
// exits 2, and its error names the field or the value, says what to do (a hint line), and has no
// stack trace and no "undefined".
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { imagespecCli } from "../support/cli.js";
import { removeDir, tempDir } from "../support/tools.js";

interface SpecCase {
  /** File name in the test folder (its extension decides YAML or JSON). */
  readonly file: string;
  readonly content: string;
  /** What the error must say: the field, the value, or the problem. */
  readonly says: RegExp;
}

const ALIAS_BOMB = ["a: &a [x, x, x, x, x, x, x, x, x]", ...["b", "c", "d", "e", "f", "g"].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${"abcdefg"[i]}`).join(", ")}]`), "name: bomb", ""].join("\n");

const SPECS: readonly SpecCase[] = [
  // The file as a whole
  { file: "syntax.yaml", content: "name: [unclosed\n", says: /not valid YAML/ },
  { file: "tab.yaml", content: "name: x\npackages:\n\t- numpy\n", says: /not valid YAML|tab/i },
  { file: "list.yaml", content: "- a\n- b\n", says: /expected a mapping/ },
  { file: "scalar.yaml", content: "hello\n", says: /expected a mapping/ },
  { file: "empty.yaml", content: "", says: /expected a mapping of spec fields/ },
  { file: "two-docs.yaml", content: "name: a\n---\nname: b\n", says: /2 YAML documents/ },
  { file: "alias-bomb.yaml", content: ALIAS_BOMB, says: /aliases .* expand to more than/ },
  { file: "deep.yaml", content: `name: x\nbuilder_options: ${"[".repeat(3000)}${"]".repeat(3000)}\n`, says: /nested more than 64 levels deep/ },
  { file: "deep-block.yaml", content: `name: x\nbuilder_options:\n${Array.from({ length: 200 }, (_, i) => `${"  ".repeat(i + 1)}k:`).join("\n")} v\n`, says: /nested more than 64 levels deep/ },
  { file: "deep.json", content: `{"name": "x", "builder_options": {"a": ${"[".repeat(100_000)}${"]".repeat(100_000)}}}`, says: /nested more than 64 levels deep/ },
  { file: "dup.json", content: '{"name": "a", "env": {"A": "1"}, "name": "b"}', says: /key "name" appears twice .*line 1/ },
  { file: "dup-nested.json", content: '{\n  "name": "a",\n  "env": {"A": "1", "A": "2"}\n}', says: /key "A" appears twice .*line 3/ },
  { file: "dup.yaml", content: "name: a\nname: b\n", says: /unique|duplicate/i },
  { file: "trailing-comma.json", content: '{"name": "a",}', says: /not valid JSON/ },
  { file: "array.json", content: "[]", says: /expected a mapping/ },
  { file: "specs-empty.yaml", content: "specs: {}\n", says: /"specs:" must map names to specs/ },
  { file: "specs-mixed.yaml", content: "specs: {a: {}}\nname: x\n", says: /also has name/ },
  { file: "specs-list.yaml", content: "specs: [a, b]\n", says: /"specs:" must map names to specs/ },
  { file: "specs-bad.yaml", content: "specs:\n  gpu: {packages: 5}\n", says: /specs\.gpu\.packages: expected a list/ },
  { file: "spec.toml", content: "name = 'x'\n", says: /unsupported file type ".toml"/ },
  { file: "a-dir.yaml/", content: "", says: /is a directory, not a spec file/ },
  // Names and locations
  { file: "unknown-field.yaml", content: "name: x\npakages: [numpy]\n", says: /pakages.*did you mean "packages"/ },
  { file: "no-name.yaml", content: "packages: [numpy]\n", says: /name: required/ },
  { file: "bad-name.yaml", content: "name: My App!\n", says: /"my app!" is not a valid image name/ },
  { file: "name-list.yaml", content: "name: [a]\n", says: /name: expected a string/ },
  { file: "registry-scheme.yaml", content: "name: x\nregistry: https://registry.example.com/team\n", says: /registry: .*drop the scheme|starts with "https:\/\/"/ },
  { file: "registry-port.yaml", content: "name: x\nregistry: registry.example.com:99999\n", says: /registry: .*"99999" is not a valid port/ },
  // flytekit's names imagespec does not take (an upper-case registry is lower-cased, as flytekit does: test/spec/cli-tag.test.ts)
  { file: "flytekit-builder.yaml", content: "name: x\nbuilder: noop\n", says: /builder: "noop" is a flytekit builder that imagespec does not have/ },
  { file: "flytekit-runtime-packages.yaml", content: "name: x\nruntime_packages: [numpy]\n", says: /runtime_packages: .*flytekit field/ },
  { file: "builder-options-builder.yaml", content: "name: x\nbuilder: native\nbuilder_options: {uv_image: u/uv:1}\n", says: /builder_options\.uv_image: builder native does not read this option/ },
  { file: "registry-region.yaml", content: "name: x\nregistry: 123456789012.dkr.ecr.us-eas-1.amazonaws.com\n", says: /us-eas-1.*did you mean|us-east-1/ },
  { file: "registry-credentials.yaml", content: "name: x\nregistry: me:pw@registry.example.com\n", says: /registry: / },
  // Base images
  { file: "base-upper.yaml", content: "name: x\nbase_image: Python:3.12\n", says: /baseImage|base_image/ },
  { file: "base-credentials.yaml", content: "name: x\nbase_image: me:pw@registry.example.com/python:3.12\n", says: /holds no user name or password/ },
  { file: "base-digest.yaml", content: "name: x\nbase_image: python@sha256:abc\n", says: /"sha256:abc" is not a digest/ },
  { file: "base-tag.yaml", content: "name: x\nbase_image: python:-slim\n", says: /tag "-slim" is invalid/ },
  { file: "base-number.yaml", content: "name: x\nbase_image: 3\n", says: /base_image: expected an image reference/ },
  { file: "base-nested-bad.yaml", content: "name: x\nbase_image: {name: b, packages: 5}\n", says: /base_image\.packages: expected a list/ },
  // Python
  { file: "py-number.yaml", content: "name: x\npython_version: 3.10\n", says: /python_version: 3\.1 is a number/ },
  { file: "py-two.yaml", content: "name: x\npython_version: '2.7'\n", says: /"2\.7" is not a Python 3 version/ },
  { file: "packages-string.yaml", content: "name: x\npackages: numpy\n", says: /packages: expected a list, got "numpy"/ },
  { file: "packages-bad.yaml", content: "name: x\npackages: ['numpy>>1']\n", says: /packages\[0\]: "numpy>>1" is not a PEP 508 requirement/ },
  { file: "packages-option.yaml", content: "name: x\npackages: ['--index-url https://x']\n", says: /pip options are not requirements/ },
  { file: "requirements-missing.yaml", content: "name: x\nrequirements: nope.txt\n", says: /requirements: "nope\.txt" does not exist/ },
  { file: "requirements-dir.yaml", content: "name: x\nrequirements: src\n", says: /requirements: "src" is not a file/ },
  { file: "pip-index.yaml", content: "name: x\npip_index: ftp://mirror.example.com/simple\n", says: /pip_index: "ftp:\/\/mirror\.example\.com\/simple" is not an http\(s\) or file URL/ },
  { file: "pip-extra.yaml", content: "name: x\npip_extra_index_url: 5\n", says: /pip_extra_index_url: expected an index URL/ },
  { file: "apt.yaml", content: "name: x\napt_packages: ['Curl!']\n", says: /apt_packages\[0\]/ },
  { file: "conda-channel.yaml", content: "name: x\nconda_channels: ['conda forge']\n", says: /"conda forge" must be one word/ },
  // Environment and config
  { file: "env-list.yaml", content: "name: x\nenv: [A, B]\n", says: /env: expected a mapping, got a list/ },
  { file: "env-nul.yaml", content: 'name: x\nenv: {A: "a\\0b"}\n', says: /env\.A: the value contains a NUL character/ },
  { file: "env-nul-key.yaml", content: 'name: x\nenv: {"A\\0B": x}\n', says: /is not an environment variable name/ },
  { file: "env-equals.yaml", content: "name: x\nenv: {'A=B': x}\n", says: /"A=B" is not an environment variable name/ },
  { file: "env-nested.yaml", content: "name: x\nenv: {A: {b: c}}\n", says: /env\.A: expected a string/ },
  { file: "commands.yaml", content: "name: x\ncommands: echo hi\n", says: /commands: expected a list/ },
  { file: "entrypoint.yaml", content: "name: x\nentrypoint: python main.py\n", says: /entrypoint: expected a list of arguments/ },
  { file: "workdir-relative.yaml", content: "name: x\nworkdir: app\n", says: /workdir: "app" is not absolute/ },
  { file: "workdir-up.yaml", content: "name: x\nworkdir: /app/../etc\n", says: /workdir: "\/app\/\.\.\/etc" contains '\.\.'/ },
  { file: "user.yaml", content: "name: x\nuser: root user\n", says: /user: "root user" is not a user/ },
  { file: "labels.yaml", content: "name: x\nlabels: {'': x}\n", says: /a label key is empty/ },
  { file: "tag-format.yaml", content: "name: x\ntag_format: v1\n", says: /tag_format: "v1" has no \{spec_hash\}/ },
  { file: "tag-placeholder.yaml", content: "name: x\ntag_format: '{spec_hash}-{date}'\n", says: /unknown placeholder \{date\}/ },
  { file: "builder.yaml", content: "name: x\nbuilder: dockr\n", says: /builder: "dockr" is not one of .*did you mean "docker"/ },
  { file: "builder-options.yaml", content: "name: x\nbuilder_options: [a]\n", says: /builder_options: expected a mapping/ },
  { file: "force-push.yaml", content: "name: x\nforce_push: maybe\n", says: /force_push: expected true or false/ },
  { file: "cuda.yaml", content: "name: x\ncuda: '10.2'\n", says: /cuda: "10\.2" is not a CUDA version imagespec installs/ },
  { file: "platform-os.yaml", content: "name: x\nplatform: windows/amd64\n", says: /only linux images can be built/ },
  { file: "platform-bad.yaml", content: "name: x\nplatform: 'linux/amd64/v9/x'\n", says: /platform: / },
  { file: "platform-empty.yaml", content: "name: x\nplatform: []\n", says: /the platform list is empty/ },
  // Files
  { file: "copy-absolute.yaml", content: "name: x\ncopy: [/etc/passwd]\n", says: /copy\[0\]: "\/etc\/passwd" is absolute/ },
  { file: "copy-up.yaml", content: "name: x\ncopy: [../secret]\n", says: /copy\[0\]: "\.\.\/secret" goes up with '\.\.'/ },
  { file: "copy-backslash.yaml", content: "name: x\ncopy: ['src\\app']\n", says: /copy\[0\]: "src\\\\app" uses '\\'/ },
  { file: "copy-missing.yaml", content: "name: x\ncopy: [nope]\n", says: /copy\[0\]: "nope" does not exist/ },
  { file: "copy-link-out.yaml", content: "name: x\ncopy: [linkdir/secret.txt]\n", says: /copy\[0\]: "linkdir\/secret\.txt" leads outside the spec file's folder: the link .*linkdir points to/ },
  { file: "source-root-link-out.yaml", content: "name: x\nsource_root: linkdir\n", says: /source_?[rR]oot: "linkdir" leads outside/ },
  { file: "source-root-file.yaml", content: "name: x\nsource_root: src/main.py\n", says: /source_?[rR]oot: "src\/main\.py" is not a directory/ },
  { file: "copy-dest.yaml", content: "name: x\ncopy: [{src: src, dest: ../x}]\n", says: /copy\[0\]\.dest: "\.\.\/x" is not a destination/ },
  { file: "copy-key.yaml", content: "name: x\ncopy: [{src: src, dst: /x}]\n", says: /copy\[0\]/ },
  // ECR settings
  { file: "ecr-principal.yaml", content: "name: x\necr: {allow_pull_from: [12345]}\n", says: /allow_pull_from\[0\]|allowPullFrom\[0\]/ },
  { file: "ecr-unknown.yaml", content: "name: x\necr: {scan: true}\n", says: /ecr.*scan/ },
  { file: "ecr-kms.yaml", content: "name: x\necr: {encryption: {kms_key: k}}\n", says: /a kmsKey needs encryption type KMS/ },
  { file: "ecr-lifecycle.yaml", content: "name: x\necr: {lifecycle_policy: {rules: []}}\n", says: /lifecycle_policy\.rules: .*at least one rule/ },
];

interface ReferenceCase {
  readonly ref: string;
  readonly says: RegExp;
}

const LONG = "a".repeat(129);
const REFERENCES: readonly ReferenceCase[] = [
  { ref: "", says: /it is empty/ },
  { ref: "   ", says: /it is empty/ },
  { ref: "UPPER/app:v1", says: /upper case is not allowed/ },
  { ref: "app:v1 extra", says: /contains white space/ },
  { ref: "registry.example.com:99999/app:v1", says: /"99999" is not a valid port/ },
  { ref: "registry.example.com:abc/app", says: /tag "abc\/app" is invalid|not a valid port/ },
  { ref: "https://registry.example.com/app:v1", says: /drop the scheme/ },
  { ref: "registry.example.com/app:v1:v2", says: /path component "app:v1"/ },
  { ref: "me:s3cr3t@registry.example.com/app:v1", says: /\[redacted\]@registry\.example\.com.*holds no user name or password/ },
  { ref: "registry.example.com/app:", says: /the tag is empty/ },
  { ref: "registry.example.com/app:-bad", says: /tag "-bad" is invalid/ },
  { ref: `registry.example.com/app:${LONG}`, says: /at most 128 characters/ },
  { ref: "registry.example.com/app@sha256:abc", says: /"sha256:abc" is not a digest/ },
  { ref: `registry.example.com/app@sha256:${"A".repeat(64)}`, says: /64 lower-case hex characters/ },
  { ref: "registry.example.com/app@", says: /"" is not a digest/ },
  { ref: "registry.example.com//app", says: /empty component/ },
  { ref: "registry.example.com/app/", says: /empty component/ },
  { ref: "/app", says: /empty component/ },
  { ref: "registry.example.com/a..b", says: /path component "a\.\.b"/ },
  { ref: "registry.example.com/app_-x", says: /path component "app_-x"/ },
  { ref: "[::1/app", says: /closing '\]'/ },
  { ref: "[zz::1]:5000/app", says: /is not an IPv6 address/ },
  { ref: `registry.example.com/${"a".repeat(256)}`, says: /longer than 255 characters/ },
  { ref: "-registry.example.com/app", says: /"-registry\.example\.com" is not a valid host name/ },
  { ref: "registry.example.com/app:v1@sha256", says: /is not a digest/ },
  { ref: "oci:", says: /names no directory/ },
  { ref: "oci::v1", says: /names no directory/ },
  { ref: "oci:out:", says: /is not a valid image name in a layout/ },
  { ref: "oci:out:bad tag!", says: /white space|is not a valid image name in a layout/ },
];

/** Each `error:` block of stderr: the error line, the hint line, and anything up to the next error. */
function errorBlocks(stderr: string): string[] {
  return stderr.split(/^(?=error: )/m).filter((b) => b.startsWith("error: "));
}

/** What is wrong with an error block, or nothing: a hint line, no "undefined", no stack trace, not "unexpected". */
function uncleanness(block: string): string[] {
  const problems: string[] = [];
  if (!/^hint: \S/m.test(block)) problems.push("no hint (what to do)");
  if (/\bundefined\b/.test(block)) problems.push('"undefined" in the message');
  if (/^\s+at \S+ \(|node:internal|\.ts:\d+:\d+/m.test(block)) problems.push("a stack trace");
  if (/this is unexpected/.test(block)) problems.push('"this is unexpected"');
  return problems;
}

function assertClean(block: string, what: string): void {
  assert.deepEqual(uncleanness(block), [], `${what}\n${block}`);
}

describe("malformed input through the CLI", () => {
  let dir: string;
  const cli = (args: string[]) => imagespecCli(args, { cwd: dir, timeoutMs: 120_000 });

  before(async () => {
    dir = await tempDir();
    const outside = await tempDir();
    await writeFile(join(outside, "secret.txt"), "outside\n");
    await mkdir(join(dir, "src"));
    await writeFile(join(dir, "src", "main.py"), "print(1)\n");
    await symlink(outside, join(dir, "linkdir"));
    for (const { file, content } of SPECS) {
      if (file.endsWith("/")) await mkdir(join(dir, file), { recursive: true });
      else await writeFile(join(dir, file), content);
    }
  });
  after(async () => {
    await removeDir(dir);
  });

  it(`${SPECS.length} malformed spec files: exit 2, each error names the file and the field or value, with a hint`, async () => {
    assert.ok(SPECS.length >= 60);
    const files = [...SPECS.map((c) => c.file.replace(/\/$/, "")), "missing.yaml"];
    const r = await cli(["tag", ...files]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "", "nothing is printed unless every spec is valid");
    const blocks = errorBlocks(r.stderr);
    const failures: string[] = [];
    for (const { file, says } of SPECS) {
      const name = file.replace(/\/$/, "");
      const mine = blocks.filter((b) => b.startsWith(`error: ${name}: `));
      if (mine.length !== 1) {
        failures.push(`${name}: ${mine.length} errors`);
        continue;
      }
      if (!says.test(mine[0]!)) failures.push(`${name}: does not match ${String(says)}:\n${mine[0]!}`);
      for (const problem of uncleanness(mine[0]!)) failures.push(`${name}: ${problem}:\n${mine[0]!}`);
    }
    assert.deepEqual(failures, []);
    const missing = blocks.find((b) => b.startsWith("error: missing.yaml: no such file"));
    assert.ok(missing, r.stderr);
    assertClean(missing, "missing.yaml");
    assert.equal(blocks.length, SPECS.length + 1, "one error per file, nothing else");
  });

  it("each malformed spec alone exits 2 (samples of every kind)", async () => {
    for (const file of ["alias-bomb.yaml", "deep.json", "dup.json", "env-nul.yaml", "copy-link-out.yaml"]) {
      const r = await cli(["tag", file]);
      assert.equal(r.code, 2, `${file}\n${r.stderr}`);
      assertClean(r.stderr, file);
    }
  });

  it(`${REFERENCES.length} malformed references: exit 2 from exists, each error names the value, with a hint`, async () => {
    assert.ok(REFERENCES.length >= 25);
    // After "--": a reference starting with '-' is an argument, not an option.
    const r = await cli(["exists", "--", ...REFERENCES.map((c) => c.ref)]);
    assert.equal(r.code, 2, r.stderr);
    const blocks = errorBlocks(r.stderr);
    assert.equal(blocks.length, REFERENCES.length, r.stderr);
    const failures: string[] = [];
    for (const [i, { ref, says }] of REFERENCES.entries()) {
      const block = blocks[i]!;
      const shown = ref.includes("s3cr3t") ? ref.replace("me:s3cr3t@", "[redacted]@") : ref;
      const named = shown.startsWith("oci:") ? shown.slice(4).split(":")[0]! : shown;
      if (shown.trim() !== "" && !block.includes(named)) failures.push(`${JSON.stringify(ref)}: the value is not named:\n${block}`);
      if (!says.test(block)) failures.push(`${JSON.stringify(ref)}: does not match ${String(says)}:\n${block}`);
      if (block.includes("s3cr3t")) failures.push(`${JSON.stringify(ref)}: the password is shown`);
      for (const problem of uncleanness(block)) failures.push(`${JSON.stringify(ref)}: ${problem}:\n${block}`);
    }
    assert.deepEqual(failures, []);
    assert.ok(!r.stdout.includes("s3cr3t"), r.stdout);
  });

  it("malformed references to inspect and copy, and a layout path through a file: exit 2 before anything is read", async () => {
    const cases: [string[], RegExp][] = [
      [["inspect", "https://registry.example.com/app:v1"], /drop the scheme/],
      [["copy", "registry.example.com/app:v1", "UPPER/app:v1"], /upper case is not allowed/],
      [["copy", "me:s3cr3t@registry.example.com/app:v1", "oci:out"], /holds no user name or password/],
      // The source is never contacted: the destination is refused first.
      [["copy", "registry.invalid/app:v1", "oci:/etc/passwd"], /OCI layout \/etc\/passwd: is a file, not a directory/],
      [["copy", "registry.invalid/app:v1", "oci:/etc/passwd/sub:v1"], /goes through \/etc\/passwd, which is a file/],
      [["build", "-o", "oci:/etc/passwd", "src-spec.yaml"], /OCI layout \/etc\/passwd: is a file/],
    ];
    await writeFile(join(dir, "src-spec.yaml"), "name: x\nbase_image: scratch\n");
    for (const [args, says] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}\n${r.stderr}`);
      assert.match(r.stderr, says, args.join(" "));
      assert.ok(!r.stderr.includes("s3cr3t"), r.stderr);
      assertClean(r.stderr, args.join(" "));
    }
  });
});
