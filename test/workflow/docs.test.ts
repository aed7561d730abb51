// docs/workflow.md's example stays true: its TypeScript file and its Python module, written out as
// a user would copy them, declare without errors, pass the Python task contract checks, and are
// accepted by the test FlyteAdmin with FlyteAdmin's default platform limits.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AdminClient, loadWorkflowFile, resolveImages, serializeEntities } from "../../src/workflow/index.js";
import { startFakeAdmin } from "../support/flyteadmin.js";
import { ROOT } from "../support/cli.js";
import { removeDir, tempDir } from "../support/tools.js";

function blocks(markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp("```" + language + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
}

describe("docs/workflow.md", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await removeDir(dir);
  });

  void it("the workflow file and its Python module declare, check and serialise", async () => {
    const markdown = await readFile(join(ROOT, "docs", "workflow.md"), "utf8");
    const ts = blocks(markdown, "ts")[0]!;
    const python = blocks(markdown, "python")[0]!;
    assert.match(python, /^# src\/app\/steps\.py/);
    await mkdir(join(dir, "src", "app"), { recursive: true });
    await writeFile(join(dir, "src", "app", "steps.py"), python);
    await writeFile(join(dir, "workflows.ts"), ts.replace(/from "imagespec"/, `from ${JSON.stringify(join(ROOT, "src", "index.ts"))}`));
    const loaded = await loadWorkflowFile(join(dir, "workflows.ts"));
    assert.deepEqual(loaded.tasks.map((t) => t.name), ["app.steps.clean", "count-rows"]);
    const images = await resolveImages(loaded, loaded.baseDir);
    assert.equal(images.get("app.steps.clean")!.flytekitVersion, "1.16.1");
    // The tasks as FlyteAdmin takes them: the test FlyteAdmin applies its default platform limits (CPU 2, memory 1Gi, GPU 1).
    const s = serializeEntities(loaded, images, { project: "docs", domain: "development", version: "v1" });
    const admin = await startFakeAdmin();
    const client = await AdminClient.connect({ endpoint: admin.endpoint, insecure: true });
    try {
      for (const task of s.tasks) assert.equal(await client.createTask({ id: task.id, spec: task.spec }), "created", task.name);
    } finally {
      client.close();
      await admin.stop();
    }
  });
});
