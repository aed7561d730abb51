// The README's examples, run as written: every ```console block is a session in one project
// folder (the README's imagespec.yaml, the files it names, the hello example); each `$ ` line runs
// in bash with the real CLI as `imagespec`, and its output must match the lines shown under it
// (`...` stands for any text in a line, or alone on a line for any number of lines). The two
// set-up commands are checked against what .ci/run and the example test really run.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { imagespecCommandLine, ROOT } from "./support/cli.js";
import { removeDir, run, tempDir } from "./support/tools.js";

interface Block {
  lang: string;
  lines: string[];
}

function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) out.push({ lang: m[1]!, lines: m[2]!.replace(/\n$/, "").split("\n") });
  return out;
}

/** Commands and the output shown after each. */
function session(block: Block): { command: string; expected: string[] }[] {
  const steps: { command: string; expected: string[] }[] = [];
  for (const line of block.lines) {
    if (line.startsWith("$ ")) steps.push({ command: line.slice(2), expected: [] });
    else steps.at(-1)?.expected.push(line);
  }
  return steps;
}

const squash = (s: string) => s.replace(/\s+/g, " ").trim();
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Whether the output lines match the shown ones, `...` being a wildcard. */
function matches(actual: string[], expected: string[]): boolean {
  const line = (a: string, e: string) => new RegExp(`^${squash(e).split("...").map(escape).join(".*")}$`).test(squash(a));
  const walk = (i: number, j: number): boolean => {
    if (j === expected.length) return i === actual.length;
    if (expected[j]!.trim() === "...") return walk(i, j + 1) || (i < actual.length && walk(i + 1, j));
    return i < actual.length && line(actual[i]!, expected[j]!) && walk(i + 1, j + 1);
  };
  return walk(0, 0);
}

describe("README examples", () => {
  let readme: string;
  let dir: string;
  let project: string;
  let bin: string;

  before(async () => {
    readme = await readFile(join(ROOT, "README.md"), "utf8");
    dir = await tempDir("imagespec-readme-");
    project = join(dir, "project");
    bin = join(dir, "bin");
    await mkdir(join(project, "src"), { recursive: true });
    await mkdir(bin);
    await mkdir(join(project, ".git"));
    // `imagespec` on PATH is the CLI from these sources.
    await writeFile(join(bin, "imagespec"), `#!/bin/sh\nexec ${imagespecCommandLine([])} "$@"\n`);
    await chmod(join(bin, "imagespec"), 0o755);
    const spec = blocks(readme).find((b) => b.lang === "yaml" && b.lines[0] === "# imagespec.yaml");
    assert.ok(spec, "the README shows an imagespec.yaml");
    await writeFile(join(project, "imagespec.yaml"), `${spec.lines.join("\n")}\n`);
    // The files the spec names, as a project would have them.
    await writeFile(join(project, "requirements.txt"), "requests>=2.31\n");
    await writeFile(join(project, "src", "main.py"), "print('my task')\n");
    await cp(join(ROOT, "examples", "hello"), join(project, "examples", "hello"), { recursive: true });
  });
  after(async () => {
    await removeDir(dir);
  });

  it("every console example runs and prints what the README shows", async () => {
    const consoles = blocks(readme).filter((b) => b.lang === "console");
    assert.ok(consoles.length >= 2, "the README has its console examples");
    let ran = 0;
    for (const block of consoles) {
      for (const { command, expected } of session(block)) {
        const r = await run("bash", ["-c", command], {
          cwd: project,
          env: { PATH: `${bin}:${process.env.PATH}`, HOME: join(dir, "home"), IMAGESPEC_CACHE_DIR: join(dir, "cache") },
          timeoutMs: 120_000,
        });
        assert.equal(r.code, 0, `$ ${command}\n${r.stderr}`);
        const actual = r.stdout.replace(/\n$/, "").split("\n").filter((l, i, all) => !(l === "" && i === all.length - 1));
        assert.ok(matches(r.stdout === "" ? [] : actual, expected), `$ ${command}\nshown:\n${expected.join("\n")}\nprinted:\n${r.stdout}`);
        ran++;
      }
    }
    assert.ok(ran >= 7, `ran ${ran} commands`);
  });

  it("the two set-up commands are the ones CI and the example test run", async () => {
    const sh = blocks(readme).filter((b) => b.lang === "sh").map((b) => b.lines.join("\n"));
    assert.ok(sh.includes("npm ci && npm run example"));
    const testCommand = "bash scripts/install-test-deps.sh && npm ci && npm test";
    assert.ok(sh.includes(testCommand));
    const ci = await readFile(join(ROOT, ".ci", "run"), "utf8");
    assert.match(ci, /bash scripts\/install-test-deps\.sh && npm ci [^\n]*&& npm test/);
  });

  it("the matcher itself tells a wrong output from a right one", () => {
    assert.ok(matches(["a: 1", "b", "c"], ["a: ...", "..."]));
    assert.ok(!matches(["a: 1", "b"], ["a: 2", "..."]));
    assert.ok(!matches(["a"], ["a", "b"]));
  });
});
