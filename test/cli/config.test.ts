// Configuration: flags > environment > project config > user config, printed by `imagespec config`
// and applied to the commands (here `tag`, whose output shows the registry and platform used).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { imagespecCli } from "../support/cli.js";
import { removeDir, tempDir } from "../support/tools.js";

describe("imagespec config", () => {
  let dir: string;
  let home: string;
  let project: string;
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, HOME: home, ...extra });
  const cli = (args: string[], extra: Record<string, string> = {}, cwd = join(project, "sub")) => imagespecCli(args, { cwd, env: env(extra) });

  before(async () => {
    dir = await tempDir();
    home = join(dir, "home");
    project = join(dir, "project");
    await mkdir(join(home, ".config", "imagespec"), { recursive: true });
    await mkdir(join(project, "sub"), { recursive: true });
    await mkdir(join(project, ".git"));
    await writeFile(join(home, ".config", "imagespec", "config.json"), JSON.stringify({ registry: "user.example.com/u", concurrency: 8, builder: "podman" }));
    await writeFile(join(project, "imagespec.config.yaml"), ["registry: project.example.com/team", "cache_dir: ./cache", "insecure_registries: [a.example.com:5000, b.example.com]", ""].join("\n"));
    await writeFile(join(project, "sub", "spec.yaml"), ["name: app", "base_image: scratch", ""].join("\n"));
  });
  after(async () => {
    await removeDir(dir);
  });

  it("prints each setting with the file or variable it came from; the project beats the user, the environment beats both", async () => {
    const r = await cli(["config", "--json"], { IMAGESPEC_BUILDER: "buildah" });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { files: Record<string, string>; settings: Record<string, { value: unknown; source: string }> };
    const projectFile = join(project, "imagespec.config.yaml");
    const userFile = join(home, ".config", "imagespec", "config.json");
    assert.deepEqual(out.files, { project: projectFile, user: userFile });
    assert.deepEqual(out.settings.registry, { value: "project.example.com/team", source: projectFile });
    assert.deepEqual(out.settings.builder, { value: "buildah", source: "env IMAGESPEC_BUILDER" });
    assert.deepEqual(out.settings.concurrency, { value: 8, source: userFile });
    // A path in a config file is relative to that file.
    assert.deepEqual(out.settings.cacheDir, { value: join(project, "cache"), source: projectFile });
    assert.deepEqual(out.settings.insecureRegistries, { value: ["a.example.com:5000", "b.example.com"], source: projectFile });
    assert.deepEqual(out.settings.platform, { value: null, source: "default" });

    const table = await cli(["config"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^project config: .*imagespec\.config\.yaml$/m);
    assert.match(table.stdout, /^builder +podman +.*config\.json$/m);
  });

  it("fills the flags a command leaves out, and a flag still wins", async () => {
    const fromProject = await cli(["tag", "spec.yaml"]);
    assert.equal(fromProject.code, 0, fromProject.stderr);
    assert.match(fromProject.stdout, /^project\.example\.com\/team\/app:[a-z0-9]{26}\n$/);
    const fromEnv = await cli(["tag", "spec.yaml"], { IMAGESPEC_REGISTRY: "env.example.com/e", IMAGESPEC_PLATFORM: "linux/arm64" });
    assert.match(fromEnv.stdout, /^env\.example\.com\/e\/app:[a-z0-9]{26}\n$/);
    // The platform is part of the tag, the registry is not.
    assert.notEqual(fromEnv.stdout.split(":")[1], fromProject.stdout.split(":")[1]);
    const fromFlag = await cli(["tag", "--registry", "flag.example.com/f", "spec.yaml"], { IMAGESPEC_REGISTRY: "env.example.com/e" });
    assert.match(fromFlag.stdout, /^flag\.example\.com\/f\/app:/);
    // Outside the project (past its .git), only the user config applies.
    const outside = await cli(["tag", join(project, "sub", "spec.yaml")], {}, dir);
    assert.match(outside.stdout, /^user\.example\.com\/u\/app:/);
  });

  it("a bad setting is a usage error (exit 2) naming the file, the key and what is expected", async () => {
    const bad = join(dir, "bad");
    await mkdir(join(bad, ".git"), { recursive: true });
    await writeFile(join(bad, "spec.yaml"), "name: app\nbase_image: scratch\n");
    await writeFile(join(bad, "imagespec.config.json"), JSON.stringify({ regsitry: "x" }));
    const typo = await cli(["tag", "spec.yaml"], {}, bad);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /imagespec\.config\.json: unknown setting "regsitry"; did you mean registry\?/);
    assert.equal(typo.stdout, "");

    await writeFile(join(bad, "imagespec.config.json"), JSON.stringify({ concurrency: 0 }));
    const zero = await cli(["config"], {}, bad);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /concurrency: 0 is not valid: expected a whole number of at least 1/);
    assert.match(zero.stderr, /^hint: .*--concurrency/m);

    const env = await cli(["tag", join(project, "sub", "spec.yaml")], { IMAGESPEC_BUILDER: "kaniko" }, dir);
    assert.equal(env.code, 2);
    assert.match(env.stderr, /environment variable IMAGESPEC_BUILDER: "kaniko" is not valid: expected one of auto, native/);
    // flytekit's builder names say what to use instead.
    const envd = await cli(["tag", join(project, "sub", "spec.yaml")], { IMAGESPEC_BUILDER: "envd" }, dir);
    assert.equal(envd.code, 2);
    assert.match(envd.stderr, /IMAGESPEC_BUILDER: "envd" is not valid: expected one of auto, native, docker, podman, buildah, buildkit; imagespec has no envd builder; use builder: auto/);
    // Nothing was written into the user's config.
    assert.deepEqual(JSON.parse(await readFile(join(home, ".config", "imagespec", "config.json"), "utf8")), { registry: "user.example.com/u", concurrency: 8, builder: "podman" });
  });
});
