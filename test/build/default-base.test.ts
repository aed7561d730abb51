// A spec without baseImage: the default base for its pythonVersion, the same for the native plan and
// the Dockerfile; without pythonVersion either, an error that says what to set.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describePlan, planBuild, specDockerfile } from "../../src/build/index.js";
import { defaultBaseImage } from "../../src/build/plan.js";
import { ImagespecError } from "../../src/errors.js";
import { ImageSpec } from "../../src/spec/index.js";
import { tempDir } from "../support/tools.js";

describe("default base", () => {
  it("python_version without base_image builds on python:<major.minor>-slim-bookworm, for every builder", async () => {
    const spec = new ImageSpec({ name: "app", registry: "registry.example.com/team", pythonVersion: "3.11.7", env: { A: "1" } });
    const plan = await planBuild(spec, { preview: false });
    const base = plan.steps[0];
    assert.deepEqual(base, { kind: "base", base: { kind: "image", reference: "docker.io/library/python:3.11-slim-bookworm", byDefault: true } });
    assert.match(describePlan(plan), /base +docker\.io\/library\/python:3\.11-slim-bookworm \(the default base for python_version 3\.11\.7\)/);
    const { dockerfile, images } = await specDockerfile(spec);
    assert.match(dockerfile, /^FROM docker\.io\/library\/python:3\.11-slim-bookworm$/m);
    assert.deepEqual(images, ["docker.io/library/python:3.11-slim-bookworm"]);
    assert.equal(defaultBaseImage("3.13"), "docker.io/library/python:3.13-slim-bookworm");
  });

  it("neither base_image nor python_version: refused at plan time (dry run too), saying what to set", async () => {
    const dir = await tempDir("imagespec-default-base-");
    const spec = new ImageSpec({ name: "app", packages: ["numpy"] }, { baseDir: dir });
    await assert.rejects(planBuild(spec, { preview: false }), (error: unknown) => {
      assert.ok(error instanceof ImagespecError);
      assert.equal(error.code, "NO_BASE_IMAGE");
      assert.match(error.message, /has neither baseImage nor pythonVersion/);
      assert.match(error.hint ?? "", /set python_version \(e\.g\. "3\.12"\) for the default base docker\.io\/library\/python:3\.12-slim-bookworm/);
      return true;
    });
  });
});
