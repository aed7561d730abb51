// Spec and workflow files as a user's project has them: the file imports "imagespec" by name from
// the project's node_modules, where the built package is installed, and the installed command
// (dist/cli/bin.js) loads it. Every module kind, with and without a package.json beside the file.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { imageName } from "../../src/spec/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { ROOT } from "../support/cli.js";
import { removeDir, run, runOk, tempDir } from "../support/tools.js";

const FIELDS = { name: "loader", registry: "127.0.0.1:5000/team", packages: ["numpy==2.1.0"], env: { MODE: "fast" } };
const ESM_SPEC = `import { ImageSpec } from "imagespec";\nconst mode: string = "fast";\nexport default new ImageSpec({ name: "loader", registry: "127.0.0.1:5000/team", packages: ["numpy==2.1.0"], env: { MODE: mode } });\n`;
const CJS_SPEC = `const { ImageSpec } = require("imagespec");\nconst mode: string = "fast";\nmodule.exports = new ImageSpec({ name: "loader", registry: "127.0.0.1:5000/team", packages: ["numpy==2.1.0"], env: { MODE: mode } });\n`;
const untyped = (source: string) => source.replace(": string", "");
const SOURCES: Record<string, string> = {
  ".ts": ESM_SPEC,
  ".mts": ESM_SPEC,
  ".cts": CJS_SPEC,
  ".js": untyped(ESM_SPEC),
  ".mjs": untyped(ESM_SPEC),
};

const NODE_MAJOR = Number(process.versions.node.split(".")[0]);
let work: string;
let bin: string;
let expected: string;

/** A project folder with the package installed in its node_modules (as `npm install imagespec` leaves it). */
async function project(name: string, packageJson: object | undefined): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, "node_modules"), { recursive: true });
  await symlink(join(work, "package"), join(dir, "node_modules", "imagespec"));
  if (packageJson) await writeFile(join(dir, "package.json"), JSON.stringify(packageJson));
  return dir;
}

function imagespec(cwd: string, ...args: string[]) {
  return run(process.execPath, [bin, ...args], { cwd, env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" }, timeoutMs: 60_000 });
}

before(async () => {
  work = await tempDir("imagespec-loader-");
  // The package as npm installs it: package.json and the compiled dist, its dependencies beside it.
  const pkg = join(work, "package");
  await mkdir(pkg);
  await copyFile(join(ROOT, "package.json"), join(pkg, "package.json"));
  await symlink(join(ROOT, "node_modules"), join(pkg, "node_modules"));
  // As `npm run build` makes it: tsc for the library, scripts/build-cli.ts for the command.
  await runOk(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json"), "--outDir", join(pkg, "dist")], { timeoutMs: 300_000 });
  await runOk(process.execPath, [join(ROOT, "scripts", "build-cli.ts"), join(pkg, "dist", "cli")], { timeoutMs: 300_000 });
  bin = join(pkg, "dist", "cli", "bin.js");
  expected = await imageName(new ImageSpec(FIELDS));
});

after(() => removeDir(work));

void describe("spec modules that import the installed package by name", () => {
  const layouts: [string, object | undefined][] = [
    ["with a package.json", { name: "app", private: true }],
    ["with a package.json of type module", { name: "app", private: true, type: "module" }],
    ["without a package.json", undefined],
  ];
  for (const [layout, packageJson] of layouts) {
    for (const [extension, source] of Object.entries(SOURCES)) {
      // A CommonJS .cts beside "type": "module" is still CommonJS; an ES module .js there is the usual case.
      void it(`${extension} ${layout}`, async () => {
        const dir = await project(`${layout.replace(/\W+/g, "-")}${extension}`, packageJson);
        await writeFile(join(dir, `images${extension}`), source);
        const result = await imagespec(dir, "tag", `images${extension}`);
        if (extension === ".cts" && NODE_MAJOR < 23) {
          // Node 22 cannot require() an ES module this process has already imported: a clear error.
          assert.equal(result.code, 2, result.stderr);
          assert.match(result.stderr, /images\.cts: cannot load the module: .*\nhint: Node 22 cannot require\(\) imagespec/);
          return;
        }
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout.trim(), expected);
      });
    }
  }

  // Node strips types but cannot run an enum (tsx compiles it) nor find `./mode` (TypeScript's resolution).
  const compiled: [string, object | undefined, string][] = [
    ["an enum and an extensionless import, in an ES module package", { name: "app", private: true, type: "module" }, "./mode"],
    ["an enum, in a project without package.json (tsx's output loaded as an ES module, not CommonJS)", undefined, "./mode.ts"],
  ];
  for (const [title, packageJson, specifier] of compiled) {
    void it(`TypeScript that Node cannot strip: ${title}`, async () => {
      const dir = await project(`compiled-${packageJson ? "module" : "bare"}`, packageJson);
      await writeFile(join(dir, "mode.ts"), `export enum Mode { Fast = "fast" }\n`);
      await writeFile(join(dir, "images.ts"), `import { ImageSpec } from "imagespec";\nimport { Mode } from "${specifier}";\nexport default new ImageSpec({ name: "loader", registry: "127.0.0.1:5000/team", packages: ["numpy==2.1.0"], env: { MODE: Mode.Fast } });\n`);
      const result = await imagespec(dir, "tag", "images.ts");
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), expected);
    });
  }

  void it("a relative import written as TypeScript resolves it (./mode.js for mode.ts) runs on Node's type stripping", async () => {
    const dir = await project("ts-resolution", undefined);
    await writeFile(join(dir, "mode.ts"), `export const MODE: string = "fast";\n`);
    await writeFile(join(dir, "images.ts"), `import { ImageSpec } from "imagespec";\nimport { MODE } from "./mode.js";\nexport default new ImageSpec({ name: "loader", registry: "127.0.0.1:5000/team", packages: ["numpy==2.1.0"], env: { MODE } });\n`);
    const result = await imagespec(dir, "tag", "images.ts");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), expected);
  });

  void it("an import that neither Node nor tsx resolves is a spec-file error naming the module and the fix", async () => {
    const dir = await project("missing", undefined);
    await writeFile(join(dir, "images.ts"), `import { ImageSpec } from "imagespec";\nimport { mode } from "./modes";\nexport default new ImageSpec({ name: "loader", env: { MODE: mode } });\n`);
    const result = await imagespec(dir, "tag", "images.ts");
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /images\.ts: cannot load the module: .*modes/);
    assert.match(result.stderr, /hint: write relative imports as the file is named/);
  });

  void it("a spec that fails validation while it loads reports the fields, not a load failure", async () => {
    const dir = await project("invalid", undefined);
    await writeFile(join(dir, "images.ts"), `import { ImageSpec } from "imagespec";\nexport default new ImageSpec({ name: "loader", packages: ["numpy=>1"] });\n`);
    const result = await imagespec(dir, "tag", "images.ts");
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /packages\[0\]/);
    assert.doesNotMatch(result.stderr, /cannot load the module/);
  });
});

void describe("workflow modules that import the installed package by name", () => {
  for (const packageJson of [undefined, { name: "app", private: true, type: "module" }]) {
    void it(`a .ts workflow file ${packageJson ? "with" : "without"} a package.json is packaged`, async () => {
      const dir = await project(`workflow-${packageJson ? "pkg" : "bare"}`, packageJson);
      await writeFile(
        join(dir, "workflows.ts"),
        [
          `import { containerTask, t } from "imagespec";`,
          `const rows: string = "/var/flyte/outputs/rows";`,
          `export const count = containerTask({ name: "count-rows", image: "ghcr.io/my-org/tools:1.4", command: ["sh", "-c", "echo 1 > " + rows], inputs: {}, outputs: { rows: t.integer } });`,
          ``,
        ].join("\n"),
      );
      const result = await imagespec(dir, "package", "workflows.ts", "-o", "out.tgz");
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /count-rows/);
    });
  }
});
