import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import "../../src/ecr/spec-vendor.js"; // the ECR spec vendor, registered as the package's entry points register it
import { ValidationError } from "../../src/errors.js";
import { ImageSpec, loadSpecs, SpecFileError } from "../../src/spec/index.js";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "spec");
const SPEC_INDEX = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "spec", "index.js");

async function tempFile(name: string, content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "imagespec-load-"));
  await mkdir(dirname(join(dir, name)), { recursive: true });
  await writeFile(join(dir, name), content);
  return join(dir, name);
}

async function loadError(path: string): Promise<Error> {
  try {
    await loadSpecs(path);
  } catch (error) {
    assert.ok(error instanceof Error);
    return error;
  }
  assert.fail(`${path} loaded`);
}

void describe("loadSpecs: YAML and JSON", () => {
  void it("a single spec is keyed default and resolves paths against its folder", async () => {
    const loaded = await loadSpecs(join(FIXTURES, "project", "imagespec.yaml"));
    assert.deepEqual(loaded.map((l) => l.key), ["default"]);
    const spec = loaded[0]!.spec;
    assert.equal(spec.baseDir, join(FIXTURES, "project"));
    assert.equal(spec.baseDirSource, "explicit");
    assert.equal(spec.name, "full-app");
    assert.equal(spec.requirements, "requirements.txt");
  });

  void it("specs: holds named specs; a spec without a name is named after its key", async () => {
    const loaded = await loadSpecs(join(FIXTURES, "multi.yaml"));
    assert.deepEqual(loaded.map((l) => [l.key, l.spec.name]), [["base", "base"], ["app", "app"]]);
    assert.ok(loaded[1]!.spec.baseImage instanceof ImageSpec);
  });

  void it("JSON", async () => {
    const [loaded] = await loadSpecs(join(FIXTURES, "spec.json"));
    assert.deepEqual(loaded!.spec.aptPackages, ["python3", "python3-pip"]);
  });

  void it("reports every invalid field with the file as the source", async () => {
    const error = await loadError(join(FIXTURES, "invalid.yaml"));
    assert.ok(error instanceof ValidationError);
    assert.ok(error.message.startsWith(`${join(FIXTURES, "invalid.yaml")}: 3 problems`), error.message);
    assert.deepEqual(error.issues.map((i) => i.path), ["pakages", "registry", "apt_packages[0]"]);
  });

  void it("prefixes problems in a specs: file with the spec's key", async () => {
    const file = await tempFile("specs.yaml", "specs:\n  ok: {name: ok}\n  gpu: {name: gpu, packages: ['torch=>2']}\n  'Bad Key': {}\n");
    const error = await loadError(file);
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(error.issues.map((i) => i.path), ["specs.gpu.packages[0]", 'specs["Bad Key"].name']);
    assert.match(error.issues[1]!.message, /"bad key" is not a valid image name/);
    // Files are checked once the specs themselves are valid.
    const missing = await loadError(await tempFile("specs.yaml", "specs:\n  'odd.key': {requirements: missing.txt}\n"));
    assert.ok(missing instanceof ValidationError);
    assert.equal(missing.issues[0]!.path, 'specs["odd.key"].requirements');
    assert.match(missing.issues[0]!.message, /missing\.txt" does not exist \(looked for .*missing\.txt\)/);
  });

  void it("reports a missing file together with the spec's other problems, each naming its field", async () => {
    const file = await tempFile(
      "imagespec.yaml",
      "name: a\nregistry: 123456789012.dkr.ecr.us-eas-1.amazonaws.com\nrequirements: requirements.txt\nsource_root: src\ncopy: [data, '../outside', conf]\nbase_image: {name: b, requirements: base-reqs.txt, pakages: [x]}\n",
    );
    await mkdir(join(dirname(file), "conf"));
    const error = await loadError(file);
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(error.issues.map((i) => i.path), ["base_image.pakages", "registry", "copy[1]", "requirements", "source_root", "copy[0]", "base_image.requirements"]);
    assert.match(error.issues[1]!.message, /did you mean us-east-1\?/);
    assert.match(error.issues[3]!.message, /"requirements\.txt" does not exist \(looked for .*requirements\.txt\)/);
    assert.match(error.issues[6]!.message, /"base-reqs\.txt" does not exist/);

    const keyed = await loadError(await tempFile("specs.yaml", "specs:\n  gpu: {registry: 'ghcr.io/x y', requirements: missing.txt}\n"));
    assert.ok(keyed instanceof ValidationError);
    assert.deepEqual(keyed.issues.map((i) => i.path), ["specs.gpu.registry", "specs.gpu.requirements"]);
    // A valid spec's missing file is reported with another spec's problems.
    const both = await loadError(await tempFile("specs.yaml", "specs:\n  cpu: {requirements: cpu.txt}\n  gpu: {packages: ['torch=>2']}\n"));
    assert.ok(both instanceof ValidationError);
    assert.deepEqual(both.issues.map((i) => i.path), ["specs.gpu.packages[0]", "specs.cpu.requirements"]);
  });

  void it("checks the files a spec names", async () => {
    const file = await tempFile("imagespec.yaml", "name: a\nrequirements: requirements.txt\n");
    const error = await loadError(file);
    assert.ok(error instanceof ValidationError);
    assert.ok(error.message.includes(join(dirname(file), "requirements.txt")), error.message);
  });

  const broken: [string, string, RegExp][] = [
    ["bad.yaml", "name: [unclosed\n", /not valid YAML/],
    ["two.yaml", "name: a\n---\nname: b\n", /holds 2 YAML documents; a spec file holds one/],
    ["list.yaml", "- name: a\n", /expected a mapping of spec fields/],
    ["mixed.yaml", "name: a\nspecs: {b: {name: b}}\n", /a file with "specs:" holds nothing else at the top, but it also has name/],
    ["empty-specs.yaml", "specs: {}\n", /"specs:" must map names to specs/],
    ["bad.json", "{\"name\": \"a\",}", /not valid JSON/],
    ["spec.toml", "name = 'a'", /unsupported file type ".toml"/],
  ];
  for (const [name, content, problem] of broken) {
    void it(`a file that cannot be read as specs: ${name}`, async () => {
      const error = await loadError(await tempFile(name, content));
      assert.ok(error instanceof SpecFileError, String(error));
      assert.equal(error.code, "INVALID_SPEC_FILE");
      assert.match(error.message, problem);
    });
  }

  void it("a file that does not exist", async () => {
    const error = await loadError(join(FIXTURES, "nope.yaml"));
    assert.ok(error instanceof SpecFileError);
    assert.match(error.message, /nope\.yaml: no such file/);
  });

  void it("duplicate YAML keys are an error", async () => {
    const error = await loadError(await tempFile("dup.yaml", "name: a\nname: b\n"));
    assert.match(error.message, /not valid YAML: .*(unique|duplicate)/i);
  });
});

void describe("loadSpecs: modules", () => {
  void it("takes the default export and named ImageSpec exports, ignoring other values", async () => {
    const loaded = await loadSpecs(join(FIXTURES, "images.ts"));
    assert.deepEqual(loaded.map((l) => [l.key, l.spec.name]), [["default", "ts-default"], ["app", "ts-base"]]);
  });

  void it("resolves a module's relative paths against the module's folder", async () => {
    const loaded = await loadSpecs(join(FIXTURES, "images.ts"));
    const app = loaded.find((l) => l.key === "app")!.spec;
    assert.equal(app.baseDir, FIXTURES);
    // The nested base, built without a folder, follows its parent.
    const base = loaded.find((l) => l.key === "default")!.spec.baseImage;
    assert.ok(base instanceof ImageSpec);
    assert.equal(base.baseDir, FIXTURES);
  });

  void it("keeps a folder the module chose explicitly", async () => {
    const file = await tempFile("pinned.mjs", `import { ImageSpec } from ${JSON.stringify(SPEC_INDEX.replace(/\.js$/, ".ts"))};\nexport default new ImageSpec({ name: "p" }, { baseDir: "/opt/elsewhere" });\n`);
    const [loaded] = await loadSpecs(file);
    assert.equal(loaded!.spec.baseDir, "/opt/elsewhere");
  });

  void it("lists a spec exported both as default and by name once, by name", async () => {
    const file = await tempFile("twice.ts", `import { ImageSpec } from ${JSON.stringify(SPEC_INDEX)};\nexport const one = new ImageSpec({ name: "one" });\nexport default one;\n`);
    assert.deepEqual((await loadSpecs(file)).map((l) => l.key), ["one"]);
  });

  void it("reports a spec that fails validation while the module loads, naming the file", async () => {
    const file = await tempFile("bad.ts", `import { ImageSpec } from ${JSON.stringify(SPEC_INDEX)};\nexport default new ImageSpec({ name: "a", packages: ["numpy=>1"] });\n`);
    const error = await loadError(file);
    assert.ok(error instanceof ValidationError);
    assert.ok(error.message.startsWith(`${file}: packages[0]:`), error.message);
  });

  void it("a module without ImageSpec exports", async () => {
    const error = await loadError(await tempFile("none.mjs", "export const x = 1;\n"));
    assert.ok(error instanceof SpecFileError);
    assert.match(error.message, /exports no ImageSpec values/);
  });

  void it("a module that throws", async () => {
    const error = await loadError(await tempFile("throws.mjs", "throw new Error('boom');\n"));
    assert.ok(error instanceof SpecFileError);
    assert.match(error.message, /cannot load the module: boom/);
  });
});
