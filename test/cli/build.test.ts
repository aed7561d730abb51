// `imagespec build` usage errors: a bad --builder or --compression exits 2 before anything is
// built or pushed, and says which values are accepted.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { removeDir, tempDir } from "../support/tools.js";
import { imagespecCli } from "../support/cli.js";


describe("imagespec build: usage errors", () => {
  let dir: string;
  const cli = (args: string[]) => imagespecCli(args, { cwd: dir });

  before(async () => {
    dir = await tempDir();
    await writeFile(join(dir, "spec.yaml"), ["name: app", "base_image: scratch", "env: {A: b}", ""].join("\n"));
  });
  after(async () => {
    await removeDir(dir);
  });

  it("rejects an unknown --builder with exit 2, the accepted names, and writes nothing", async () => {
    const r = await cli(["build", "--builder", "nope", "spec.yaml"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: --builder "nope" is not a builder$/m);
    assert.match(r.stderr, /^hint: use one of auto, native, docker, podman, buildah, buildkit$/m);
    assert.equal(r.stdout, "");
    assert.deepEqual(await readdir(dir), ["spec.yaml"]);
  });

  it("rejects an unknown --compression with exit 2", async () => {
    const r = await cli(["build", "--compression", "lz4", "spec.yaml"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--compression "lz4" is not supported/);
    assert.deepEqual(await readdir(dir), ["spec.yaml"]);
  });

  it("--builder native on a spec with commands fails that image (exit 1) and names the field", async () => {
    await writeFile(join(dir, "cmds.yaml"), ["name: cmds", "base_image: scratch", "commands: [\"echo hi\"]", ""].join("\n"));
    const r = await cli(["build", "--builder", "native", "cmds.yaml"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /commands/);
    assert.deepEqual((await readdir(dir)).sort(), ["cmds.yaml", "spec.yaml"]);
  });
});
