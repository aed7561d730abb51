// Every command has a help page with examples, reached with --help (exit 0), and the command
// list on the main page names them all.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { imagespecCli } from "../support/cli.js";

const COMMANDS = [
  ["build"],
  ["tag"],
  ["exists"],
  ["inspect"],
  ["copy"],
  ["dockerfile"],
  ["ecr", "login"],
  ["ecr", "ensure-repo"],
  ["ecr", "grant-pull"],
  ["config"],
  ["cache", "prune"],
  ["completion"],
  ["version"],
  ["package"],
  ["register"],
];

describe("imagespec --help", () => {
  it("the main page lists every command", async () => {
    const r = await imagespecCli(["--help"]);
    assert.equal(r.code, 0, r.stderr);
    for (const [name] of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${name}\\b`, "m"), name);
  });

  for (const command of COMMANDS) {
    it(`${command.join(" ")} has a help page with examples`, async () => {
      const r = await imagespecCli([...command, "--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: imagespec ${command.join(" ")}`, "m"));
      assert.match(r.stdout, /^Examples:\n {2}imagespec /m);
    });
  }

  it("an unknown command or flag is a usage error (exit 2)", async () => {
    const unknown = await imagespecCli(["biuld"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'biuld'/);
    const flag = await imagespecCli(["tag", "--nope", "x.yaml"]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown option '--nope'/);
  });

  it("version prints the package version", async () => {
    const r = await imagespecCli(["version"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^imagespec \d+\.\d+\.\d+\n$/);
  });
});
