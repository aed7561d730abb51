// `imagespec tag`, run as a child process exactly as a user would.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const FIXTURES = relative(ROOT, join(ROOT, "test", "fixtures", "spec"));

function imagespec(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

void describe("imagespec tag", () => {
  void it("prints one full image name per spec, nothing else", () => {
    const result = imagespec("tag", join(FIXTURES, "minimal.yaml"), join(FIXTURES, "multi.yaml"));
    assert.equal(result.stderr, "");
    assert.equal(result.status, 0);
    assert.equal(
      result.stdout,
      "minimal:aw23zuhc34w45wzltt5ibsacpx\n" + "localhost:5000/team/base:inbmgeohhvu25f2uew5osvt4wn\n" + "localhost:5000/team/app:licn63ohjhfvw7lx35pfkqqg37\n",
    );
  });

  void it("--with-keys prints FILE, KEY and IMAGE separated by tabs", () => {
    const multi = join(FIXTURES, "multi.yaml");
    const result = imagespec("tag", "--with-keys", multi, join(FIXTURES, "spec.json"));
    assert.equal(result.status, 0);
    assert.equal(
      result.stdout,
      `${multi}\tbase\tlocalhost:5000/team/base:inbmgeohhvu25f2uew5osvt4wn\n` +
        `${multi}\tapp\tlocalhost:5000/team/app:licn63ohjhfvw7lx35pfkqqg37\n` +
        `${join(FIXTURES, "spec.json")}\tdefault\tghcr.io/example/json-app:tnj2sidb5izmu7z5osg4wz3vnl\n`,
    );
  });

  void it("--explain prints what each tag hashes, as JSON", () => {
    const result = imagespec("tag", "--explain", join(FIXTURES, "minimal.yaml"));
    assert.equal(result.status, 0);
    assert.deepEqual(JSON.parse(result.stdout), [
      {
        file: join(FIXTURES, "minimal.yaml"),
        key: "default",
        image: "minimal:aw23zuhc34w45wzltt5ibsacpx",
        canonical: { hashVersion: 1, packages: ["numpy==1.26.4"], platforms: ["linux/amd64"], workdir: "/root" },
      },
    ]);
  });

  void it("exits 2 on an invalid spec, naming each field and the fix, and prints no names", () => {
    const result = imagespec("tag", join(FIXTURES, "minimal.yaml"), join(FIXTURES, "invalid.yaml"));
    assert.equal(result.status, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^error: .*invalid\.yaml: 3 problems$/m);
    assert.match(result.stderr, /pakages: unknown field "pakages"; did you mean "packages"\?/);
    assert.match(result.stderr, /registry: .*unknown AWS region "us-eas-1"; did you mean us-east-1\?/);
    assert.match(result.stderr, /apt_packages\[0\]: "Curl": Debian package names are lower case; did you mean "curl"\?/);
    assert.match(result.stderr, /^hint: /m);
  });

  void it("shows a bad registry and a missing requirements file together (one validation pass)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagespec-cli-"));
    await writeFile(join(dir, "imagespec.yaml"), "name: app\nregistry: 123456789012.dkr.ecr.us-eas-1.amazonaws.com\nrequirements: requirements.txt\nbuilder: envd\n");
    const result = imagespec("tag", join(dir, "imagespec.yaml"));
    assert.equal(result.status, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^error: .*imagespec\.yaml: 3 problems$/m);
    assert.match(result.stderr, /^ {2}registry: .*did you mean us-east-1\?$/m);
    assert.match(result.stderr, /^ {2}builder: "envd" is a flytekit builder that imagespec does not have: /m);
    assert.match(result.stderr, /^ {2}requirements: "requirements\.txt" does not exist \(looked for .*requirements\.txt\)$/m);
  });

  void it("lower-cases an upper-case registry as flytekit does, and says so", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagespec-cli-"));
    await writeFile(join(dir, "upper.yaml"), "name: app\nregistry: GHCR.io/Team\n");
    await writeFile(join(dir, "lower.yaml"), "name: app\nregistry: ghcr.io/team\n");
    const upper = imagespec("tag", join(dir, "upper.yaml"));
    const lower = imagespec("tag", join(dir, "lower.yaml"));
    assert.equal(upper.status, 0);
    assert.match(upper.stdout, /^ghcr\.io\/team\/app:[a-z2-7]{26}\n$/);
    assert.equal(upper.stdout, lower.stdout);
    assert.match(upper.stderr, /^warning: .*upper\.yaml: registry: "GHCR\.io\/Team" is used as "ghcr\.io\/team": registry paths are lower-case/m);
    assert.equal(lower.stderr, "");
  });

  void it("exits 2 for a file that does not exist", () => {
    const result = imagespec("tag", join(FIXTURES, "nope.yaml"));
    assert.equal(result.status, 2);
    assert.match(result.stderr, /nope\.yaml: no such file/);
  });

  void it("prints warnings on stderr and still succeeds", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagespec-cli-"));
    await writeFile(join(dir, "imagespec.yaml"), "name: app\nregistry: 123456789012.dkr.ecr.xx-newplace-1.amazonaws.com\n");
    const result = imagespec("tag", join(dir, "imagespec.yaml"));
    assert.equal(result.status, 0);
    assert.match(result.stdout, /^123456789012\.dkr\.ecr\.xx-newplace-1\.amazonaws\.com\/app:[a-z2-7]{26}\n$/);
    assert.match(result.stderr, /^warning: .*imagespec\.yaml: registry: AWS region "xx-newplace-1" is not among the aws regions/);
  });

  void it("needs at least one file", () => {
    const result = imagespec("tag");
    assert.equal(result.status, 2);
    assert.match(result.stderr, /missing required argument/);
  });
});
