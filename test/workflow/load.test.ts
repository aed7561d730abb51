// Loading workflow files the way the installed tool does: imagespec as compiled JavaScript, in a Node
// process that has no TypeScript loader yet (the test runner's tsx is not inherited), the workflow
// file in a folder without a package.json, importing that same compiled imagespec.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import { ROOT } from "../support/cli.js";
import { removeDir, run, tempDir } from "../support/tools.js";

/** imagespec's public API as one JavaScript module (dependencies stay packages, found from the repository's node_modules). */
async function compiledImagespec(): Promise<string> {
  // One folder below the root, as dist/index.js is: the version is read from ../package.json.
  const outfile = join(ROOT, ".cache", `imagespec-test-index-${process.pid}.mjs`);
  await build({ entryPoints: [join(ROOT, "src", "index.ts")], bundle: true, platform: "node", format: "esm", packages: "external", outfile, logLevel: "error" });
  return outfile;
}

/** Loads `file` with the compiled loadWorkflowFile in a fresh process and prints what it declared. */
function loadInFreshProcess(index: string, file: string) {
  const script = `
    const { loadWorkflowFile } = await import(${JSON.stringify(index)});
    const loaded = await loadWorkflowFile(${JSON.stringify(file)});
    console.log(JSON.stringify({ tasks: loaded.tasks.map((t) => t.name), workflows: loaded.workflows.map((w) => w.name) }));`;
  return run(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, env: { PATH: process.env.PATH }, timeoutMs: 60_000 });
}

const BODY = `
export const hello = containerTask({ name: "hello", image: "ghcr.io/org/tool:1", command: ["echo"], inputs: { n: t.integer } });
export const wf = workflow({ name: "wf" }, () => void hello({ n: count }));
`;

describe("loading workflow files", () => {
  let dir: string;
  let index: string;
  let INDEX: string;
  before(async () => {
    dir = await tempDir();
    index = await compiledImagespec();
    INDEX = JSON.stringify(index);
  });
  after(async () => {
    await removeDir(dir);
    await rm(index, { force: true });
  });

  for (const [name, typed] of [["workflows.ts", true], ["workflows.mts", true], ["workflows.js", false], ["workflows.mjs", false]] as const) {
    void it(`a bare ${name} with no package.json beside it loads in a process without a TypeScript loader`, async () => {
      const file = join(dir, name);
      await writeFile(file, `import { containerTask, workflow, t } from ${INDEX};\nconst count${typed ? ": number" : ""} = 3;\n${BODY}`);
      const r = await loadInFreshProcess(index, file);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1)!), { tasks: ["hello"], workflows: ["wf"] });
    });
  }

  void it("a bare .ts file importing another .ts file of its folder (written ./tasks.js, as TypeScript resolves it) loads both as ES modules", async () => {
    const sub = join(dir, "split");
    await mkdir(sub);
    await writeFile(join(sub, "tasks.ts"), `import { containerTask, t } from ${INDEX};\nexport const hello = containerTask({ name: "hello", image: "ghcr.io/org/tool:1", command: ["echo"], inputs: { n: t.integer } });\n`);
    await writeFile(join(sub, "workflows.ts"), `import { workflow } from ${INDEX};\nimport { hello } from "./tasks.js";\nconst count: number = 3;\nexport const wf = workflow({ name: "wf" }, () => void hello({ n: count }));\n`);
    const r = await loadInFreshProcess(index, join(sub, "workflows.ts"));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1)!), { tasks: ["hello"], workflows: ["wf"] });
  });
});
