// The README's main job, run as the README runs it: the example script builds the example spec
// with the compiled CLI into the embedded default output, and skopeo reads the image back.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { run, skopeo } from "../support/tools.js";

const root = join(import.meta.dirname, "..", "..");

describe("README quick start", () => {
  it("npm run example's script builds hello into .imagespec/images, readable by skopeo", async () => {
    const readme = await readFile(join(root, "README.md"), "utf8");
    assert.match(readme, /npm ci && npm run example/, "the README still documents the command this test runs");
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { scripts: Record<string, string> };
    assert.match(pkg.scripts.example ?? "", /examples\/hello\/run\.sh/);

    // `npm test` compiles dist/ before the tests run, so the script's `node dist/cli/main.js` is current.
    const result = await run("bash", [join(root, "examples", "hello", "run.sh")], { cwd: root, timeoutMs: 120_000 });
    assert.equal(result.code, 0, result.stderr);
    const name = result.stdout.match(/built (hello:[a-z2-7]{26}) into/)?.[1];
    assert.ok(name, result.stdout);

    const inspected = await skopeo(["inspect", "--config", `oci:${join(root, ".imagespec", "images")}:${name}`]);
    assert.equal(inspected.code, 0, inspected.stderr);
    const config = JSON.parse(inspected.stdout) as { config: { Env: string[]; Cmd: string[] } };
    assert.ok(config.config.Env.includes("GREETING=hello"));
    assert.deepEqual(config.config.Cmd, ["python3", "/root/main.py"]);

    // Run again: the tag exists in the layout, so nothing is built.
    const again = await run("bash", [join(root, "examples", "hello", "run.sh")], { cwd: root, timeoutMs: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /exists .*nothing to build/);
  });
});
