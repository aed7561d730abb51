import { describe, it } from "node:test";
import assert from "node:assert/strict";
import "../../src/ecr/spec-vendor.js"; // the ECR spec vendor, registered as the package's entry points register it
import { ValidationError } from "../../src/errors.js";
import { ImageSpec, imageSpecSchema, specTag, type ImageSpecFields } from "../../src/spec/index.js";

void describe("ImageSpec", () => {
  void it("has every schema field as a property (the class declares none itself), forcePush as isForcePush", () => {
    const input = { name: "app", registry: "registry.example.com/team", packages: ["numpy"], forcePush: true };
    const spec = new ImageSpec(input);
    const parsed = imageSpecSchema().parse(input);
    const fields = Object.keys(imageSpecSchema().shape) as (keyof ImageSpecFields)[];
    assert.ok(fields.length >= 29, `${fields.length} fields`);
    for (const field of fields.filter((f) => f !== "forcePush")) assert.deepEqual(spec[field], parsed[field], `spec.${field}`);
    assert.equal(Object.hasOwn(spec, "forcePush"), false);
    assert.equal(spec.isForcePush, true);
    assert.equal(spec.registry, "registry.example.com/team");
    assert.deepEqual(spec.packages, ["numpy"]);
    assert.ok(Object.isFrozen(spec.packages));
  });

  void it("applies flytekit's defaults", () => {
    const spec = new ImageSpec({ name: "app" });
    assert.equal(spec.workdir, "/root");
    assert.deepEqual(spec.platform, ["linux/amd64"]);
    assert.deepEqual(spec.platforms(), [{ os: "linux", architecture: "amd64" }]);
    assert.equal(spec.builder, "auto");
    assert.equal(spec.isForcePush, false);
    assert.deepEqual(spec.packages, []);
    assert.equal(spec.ecr.createRepository, true);
    // Content-hash tags never move; only the step-cache tags imagespec rewrites stay mutable.
    assert.equal(spec.ecr.tagMutability, "IMMUTABLE_WITH_EXCLUSION");
    assert.deepEqual(spec.ecr.tagMutabilityExclusions, ["imagespec-cache-*"]);
    assert.equal(spec.ecr.encryption.type, "AES256");
    assert.equal(spec.registry, undefined);
    assert.equal(spec.baseDir, process.cwd());
    assert.equal(spec.baseDirSource, "cwd");
  });

  void it("is frozen, down to its lists and maps", () => {
    const spec = new ImageSpec({ name: "app", packages: ["numpy"], env: { A: "1" }, copy: [{ src: "a", dest: "/b" }] });
    assert.ok(Object.isFrozen(spec));
    assert.throws(() => ((spec as { name: string }).name = "other"), TypeError);
    assert.throws(() => (spec.packages as string[]).push("x"), TypeError);
    assert.throws(() => ((spec.env as Record<string, string>).B = "2"), TypeError);
    assert.throws(() => ((spec.copy[0] as { src: string }).src = "c"), TypeError);
    assert.throws(() => ((spec.ecr as { scanOnPush: boolean }).scanOnPush = true), TypeError);
  });

  void it("builder methods return a new spec and leave the original alone", async () => {
    const spec = new ImageSpec({ name: "app", packages: ["numpy"], env: { A: "1" } }, { baseDir: "/work/project" });
    const next = spec
      .withPackages("pandas")
      .withAptPackages("curl")
      .withCommands("echo hi")
      .withCopy("src", { src: "conf", dest: "/etc/app" })
      .withEnv({ B: "2", A: "3" })
      .withRequirements("requirements.txt");
    assert.deepEqual(spec.packages, ["numpy"]);
    assert.deepEqual(spec.env, { A: "1" });
    assert.deepEqual(next.packages, ["numpy", "pandas"]);
    assert.deepEqual(next.aptPackages, ["curl"]);
    assert.deepEqual(next.commands, ["echo hi"]);
    assert.deepEqual(next.copy, ["src", { src: "conf", dest: "/etc/app" }]);
    assert.deepEqual(next.env, { A: "3", B: "2" });
    assert.equal(next.requirements, "requirements.txt");
    assert.equal(next.baseDir, "/work/project");
    assert.equal(next.baseDirSource, "explicit");

    const forced = spec.forcePush();
    assert.equal(forced.isForcePush, true);
    assert.equal(spec.isForcePush, false);
    assert.equal(await specTag(forced), await specTag(spec));
  });

  void it("withBuilderOptions adds or overrides options (flytekit's with_builder_options), checked for the spec's builder, not in the tag", async () => {
    const spec = new ImageSpec({ name: "app", builder: "docker", builderOptions: { pythonInstaller: "pip" } });
    const next = spec.withBuilderOptions({ uvImage: "mirror.example.com/uv:0.8", pythonInstaller: "uv" });
    assert.deepEqual(next.builderOptions, { pythonInstaller: "uv", uvImage: "mirror.example.com/uv:0.8" });
    assert.deepEqual(spec.builderOptions, { pythonInstaller: "pip" });
    assert.equal(await specTag(next), await specTag(spec));
    assert.throws(() => spec.withBuilderOptions({ aptMirror: "http://m/debian" }), (error: unknown) => error instanceof ValidationError && error.issues[0]?.path === "builderOptions.aptMirror");
  });

  void it("builder methods validate what they add", () => {
    const spec = new ImageSpec({ name: "app" });
    assert.throws(() => spec.withPackages("numpy=>1"), (error: unknown) => error instanceof ValidationError && error.issues[0]?.path === "packages[0]");
    assert.throws(() => spec.withCopy("/etc"), (error: unknown) => error instanceof ValidationError && /is absolute/.test(error.message));
  });

  void it("the repository inside the registry", () => {
    assert.equal(new ImageSpec({ name: "app" }).repository(), "app");
    assert.equal(new ImageSpec({ name: "app", registry: "localhost:5000" }).repository(), "app");
    assert.equal(new ImageSpec({ name: "app", registry: "ghcr.io/org/team" }).repository(), "org/team/app");
    assert.equal(new ImageSpec({ name: "app", registry: "docker.io" }).repository(), "library/app");
    assert.deepEqual(new ImageSpec({ name: "app", registry: "ghcr.io/org" }).registryLocation(), { host: "ghcr.io", prefix: "org" });
  });

  void it("platforms() parses each platform", () => {
    assert.deepEqual(new ImageSpec({ name: "a", platform: ["linux/arm64", "linux/arm/v7"] }).platforms(), [
      { os: "linux", architecture: "arm64" },
      { os: "linux", architecture: "arm", variant: "v7" },
    ]);
  });

  void it("round-trips through toJSON, nested bases included", async () => {
    const spec = new ImageSpec({ name: "app", baseImage: { name: "base", packages: ["numpy"] }, env: { A: "1" }, tagFormat: "{spec_hash}-x" });
    const json = JSON.parse(JSON.stringify(spec)) as Record<string, unknown>;
    assert.deepEqual((json.baseImage as Record<string, unknown>).packages, ["numpy"]);
    const again = new ImageSpec(json as never);
    assert.equal(await specTag(again), await specTag(spec));
  });

  void it("adopts an ImageSpec from another copy of the package by its brand", () => {
    const original = new ImageSpec({ name: "app", packages: ["numpy"] }, { baseDir: "/srv" });
    const foreign = {
      [Symbol.for("imagespec.ImageSpec")]: true,
      baseDir: original.baseDir,
      baseDirSource: original.baseDirSource,
      toJSON: () => original.toJSON(),
    };
    const adopted = ImageSpec.from(foreign);
    assert.ok(adopted instanceof ImageSpec);
    assert.deepEqual(adopted.packages, ["numpy"]);
    assert.equal(adopted.baseDir, "/srv");
    assert.throws(() => ImageSpec.from({ name: "x" }), TypeError);
  });

  void it("withBaseDir rebinds nested specs that had no folder of their own", () => {
    const spec = new ImageSpec({ name: "app", baseImage: { name: "base" } });
    const bound = spec.withBaseDir("/srv/project");
    assert.equal(bound.baseDir, "/srv/project");
    assert.ok(bound.baseImage instanceof ImageSpec);
    assert.equal(bound.baseImage.baseDir, "/srv/project");
  });
});
