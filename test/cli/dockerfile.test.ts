// `imagespec dockerfile`: the Dockerfile on stdout, the context written with --context, errors
// for a file with several specs and no --key.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { removeDir, tempDir } from "../support/tools.js";
import { imagespecCli } from "../support/cli.js";


const cli = (args: string[]) => imagespecCli(args);

describe("imagespec dockerfile", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await mkdir(join(dir, "src"), { recursive: true });
    await writeFile(join(dir, "src", "main.py"), "print('hi')\n");
    await writeFile(
      join(dir, "spec.yaml"),
      [
        "name: app",
        "registry: registry.example.com/team",
        "base_image: registry.example.com/base/python:3.11",
        "apt_packages: [jq]",
        "packages: [greet]",
        "pip_index: https://user:secret@pypi.example.com/simple",
        "commands: [\"echo hi > /hi\"]",
        "source_root: src",
        "",
      ].join("\n"),
    );
    await writeFile(
      join(dir, "two.yaml"),
      ["specs:", "  a: {name: a, base_image: registry.example.com/base:1, commands: [\"true\"]}", "  b: {name: b, base_image: registry.example.com/base:1, commands: [\"false\"]}", ""].join("\n"),
    );
  });
  after(async () => {
    await removeDir(dir);
  });

  it("prints the Dockerfile, and with --context writes the context it uses (index credentials only there)", async () => {
    const context = join(dir, "ctx");
    const r = await cli(["dockerfile", "--context", context, join(dir, "spec.yaml")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^FROM registry\.example\.com\/base\/python:3\.11$/m);
    assert.match(r.stdout, /apt-get install -y --no-install-recommends jq$/m);
    assert.match(r.stdout, /^RUN echo hi > \/hi$/m);
    assert.match(r.stdout, /^COPY files\/ \/$/m);
    assert.match(r.stdout, /^ENV IMAGESPEC_ID="[a-z0-9]{26}"\n$/m);
    assert.ok(!r.stdout.includes("secret"));
    assert.match(r.stderr, /wrote the build context to /);
    assert.equal(await readFile(join(context, "Dockerfile"), "utf8"), r.stdout);
    assert.deepEqual((await readdir(context)).sort(), ["Dockerfile", "files", "python"]);
    assert.match(await readFile(join(context, "python", "requirements.txt"), "utf8"), /^--index-url https:\/\/user:secret@pypi\.example\.com\/simple$/m);
    assert.equal(await readFile(join(context, "files", "root", "main.py"), "utf8"), "print('hi')\n");
  });

  it("asks for --key when the file holds several specs, and prints the one named", async () => {
    const both = await cli(["dockerfile", join(dir, "two.yaml")]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /holds 2 specs; choose one with --key/);
    assert.match(both.stderr, /hint: the file holds: a, b/);
    const b = await cli(["dockerfile", "--key", "b", join(dir, "two.yaml")]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /^RUN false$/m);
    assert.doesNotMatch(b.stdout, /^RUN true$/m);
  });
});
