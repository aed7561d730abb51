// The command as `npm install imagespec` leaves it: the package packed by `npm pack` (so "files"
// and "bin" are what ship), unpacked into a project's node_modules, the bin linked as npm links it,
// and run by name. The CLI bundle needs only its own files and the dependencies left out of it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, copyFile, mkdir, readFile, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ROOT } from "../support/cli.js";
import { removeDir, run, runOk, tempDir } from "../support/tools.js";

let work: string;
let binDir: string;
let version: string;

before(async () => {
  work = await tempDir("imagespec-packed-");
  const source = join(work, "source");
  await mkdir(source);
  await copyFile(join(ROOT, "package.json"), join(source, "package.json"));
  version = (JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  await runOk(process.execPath, [join(ROOT, "scripts", "build-cli.ts"), join(source, "dist", "cli")], { timeoutMs: 120_000 });
  const packed = await runOk("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: source, timeoutMs: 120_000 });
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  const installed = join(work, "project", "node_modules", "imagespec");
  await mkdir(installed, { recursive: true });
  await runOk("tar", ["-xzf", join(work, filename), "-C", installed, "--strip-components=1"]);
  // The dependencies, where npm would have installed them.
  await symlink(join(ROOT, "node_modules"), join(installed, "node_modules"));
  // npm links each "bin" entry into node_modules/.bin and makes its target executable.
  const { bin } = JSON.parse(await readFile(join(installed, "package.json"), "utf8")) as { bin: Record<string, string> };
  binDir = join(work, "project", "node_modules", ".bin");
  await mkdir(binDir);
  for (const [name, target] of Object.entries(bin)) {
    await chmod(join(installed, target), 0o755);
    await symlink(join("..", "imagespec", target), join(binDir, name));
  }
});

after(() => removeDir(work));

describe("the packed package's imagespec command", () => {
  const imagespec = (...args: string[]) =>
    run(join(binDir, "imagespec"), args, { cwd: join(work, "project"), env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`, HOME: "/nonexistent-imagespec-home" }, timeoutMs: 60_000 });

  it("prints the package version", async () => {
    const r = await imagespec("--version");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
  });

  it("runs a command from its chunks: the main help page lists the commands", async () => {
    const r = await imagespec("--help");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}build \[options\]/m);
    assert.match(r.stdout, /^ {2}register \[options\]/m);
  });
});
