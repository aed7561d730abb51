// Shell completion: the scripts complete commands, subcommands, options and option values, run
// by the real shells (zsh with its completion functions replaced by ones that print).
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { imagespecCli } from "../support/cli.js";
import { run, tempDir } from "../support/tools.js";

describe("imagespec completion", () => {
  let bashScript: string;
  let zshScript: string;
  before(async () => {
    const dir = await tempDir();
    const bash = await imagespecCli(["completion", "bash"]);
    assert.equal(bash.code, 0, bash.stderr);
    const zsh = await imagespecCli(["completion", "zsh"]);
    assert.equal(zsh.code, 0, zsh.stderr);
    bashScript = join(dir, "imagespec.bash");
    zshScript = join(dir, "_imagespec");
    await writeFile(bashScript, bash.stdout);
    await writeFile(zshScript, zsh.stdout);
  });

  async function bashComplete(...words: string[]): Promise<string[]> {
    const script = `source ${bashScript}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _imagespec; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await run("bash", ["-c", script], { cwd: "/" });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split("\n").filter((l) => l !== "");
  }

  it("bash: commands, subcommands, options of the command at the cursor, and option values", async () => {
    assert.deepEqual(await bashComplete("imagespec", "c"), ["copy", "config", "cache", "completion"]);
    assert.deepEqual(await bashComplete("imagespec", "ecr", ""), ["login", "ensure-repo", "grant-pull"]);
    assert.deepEqual(await bashComplete("imagespec", "build", "--bu"), ["--builder", "--buildkit-addr"]);
    assert.deepEqual(await bashComplete("imagespec", "build", "--builder", "b"), ["buildah", "buildkit"]);
    assert.deepEqual(await bashComplete("imagespec", "cache", "prune", "--d"), ["--dry-run"]);
    // Spec files: file names.
    assert.deepEqual(await bashComplete("imagespec", "build", "et"), ["etc"]);
  });

  it("zsh: the same, with descriptions", async () => {
    const stubs = [
      "_describe() { local arr=${@[-1]}; print -rl -- ${(P)arr} }",
      "_files() { print -r -- FILES }",
      "compadd() { shift; print -rl -- $@ }",
      "compdef() { : }",
    ].join("\n");
    const complete = async (...words: string[]) => {
      const r = await run("zsh", ["-f", "-c", `${stubs}\nsource ${zshScript}\nwords=(${words.map((w) => `'${w}'`).join(" ")}); CURRENT=${words.length}; _imagespec`]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.split("\n").filter((l) => l !== "");
    };
    const ecr = await complete("imagespec", "ecr", "");
    assert.deepEqual(ecr.map((l) => l.split(":")[0]), ["login", "ensure-repo", "grant-pull"]);
    assert.match(ecr[0]!, /^login:print the registry password/);
    const options = await complete("imagespec", "build", "--");
    assert.ok(options.some((l) => /^--builder:override every spec's builder/.test(l)), options.join("\n"));
    assert.deepEqual(await complete("imagespec", "build", "--compression", ""), ["gzip", "zstd"]);
    assert.deepEqual(await complete("imagespec", "build", ""), ["FILES"]);
  });

  it("an unknown shell is a usage error", async () => {
    const r = await imagespecCli(["completion", "fish"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no completion for the shell "fish"/);
  });
});
