// The Python step of a cold build as `imagespec build` shows it (#19 item 10): resolution, each
// wheel downloading (count and bytes), each layer compressing, each blob uploading; as plain lines
// without a TTY and, on a TTY (under `script`), in the live view while it happens. A real build:
// a Debian base with Python in a real registry, wheels from a PEP 503 index on 127.0.0.1 that
// holds each wheel a moment so the transfers are in flight across several redraws.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Registry } from "../../src/registry/index.js";
import { imagespecCli, imagespecCommandLine } from "../support/cli.js";
import { debianPythonBase } from "../support/debian-base.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, run, tempDir } from "../support/tools.js";
import { buildFixtureWheels } from "../support/wheels.js";

const ESC = "\u001b";
const STAMP = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";

describe("imagespec build: progress of the Python step", { timeout: 300_000 }, () => {
  let reg: TestRegistry;
  let index: PypiIndex;
  let work: string;

  before(async () => {
    const base = await debianPythonBase({ arch: "amd64" });
    reg = await startRegistry({ mode: "plain" });
    work = await tempDir("imagespec-cli-progress-");
    const wheels = await buildFixtureWheels(join(work, "wheels"));
    // Pages are slow too: the native resolver reads metadata only, and would finish between two frames.
    index = await startPypiIndex({ dir: wheels.dir, fileDelayMs: 1200, pageDelayMs: 400 });
    const registry = new Registry();
    try {
      await registry.copy(base.ref, `${reg.host}/debian/python:3.11`);
    } finally {
      await registry.close();
    }
  });
  after(async () => {
    await index?.stop();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  /** A project whose spec installs two packages (three wheels: greet needs helper) on the base. */
  async function project(name: string): Promise<string> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "spec.yaml"),
      [`name: ${name}`, `registry: ${reg.host}/team`, `base_image: ${reg.host}/debian/python:3.11`, "python_version: '3.11'", "packages: [greet, fastmath==2.0]", `pip_index: ${index.url}`, ""].join("\n"),
    );
    return dir;
  }

  const env = (dir: string) => ({ PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home", XDG_CACHE_HOME: join(dir, "cache") });

  it("without a TTY: a line for resolution, each wheel starting and finishing, each layer compressing and written, each blob upload starting", async () => {
    const dir = await project("plain-progress");
    const r = await imagespecCli(["build", "--progress", "plain", "spec.yaml"], { cwd: dir, env: env(dir), timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    const python = `${STAMP} \\S+: python for linux/amd64:`;
    assert.match(r.stderr, new RegExp(`${python} resolving greet and fastmath==2\\.0\\n`));
    assert.match(r.stderr, new RegExp(`${python} 3 wheels to install\\n`));
    for (const project of ["greet", "helper", "fastmath"]) {
      assert.match(r.stderr, new RegExp(`${python} downloading ${project}-[^ ]+\\.whl\\n`));
      assert.match(r.stderr, new RegExp(`${python} wheel [123]/3 ${project}-[^ ]+\\.whl \\d+(\\.\\d)? (B|KiB) downloaded\\n`));
    }
    assert.match(r.stderr, new RegExp(`${python} layer 1/\\d \\(\\d wheels\\) compressing\\n`));
    assert.match(r.stderr, new RegExp(`${python} layer 1/\\d \\(\\d wheels\\) written, \\d+(\\.\\d)? (B|KiB|MiB) compressed to \\d+(\\.\\d)? (B|KiB|MiB)\\n`));
    assert.match(r.stderr, new RegExp(`${STAMP} \\S+: blob sha256:[0-9a-f]{12} +\\d+(\\.\\d)? (B|KiB|MiB) uploading\\n`));
    // In order: resolution before downloads, downloads before layers, layers before uploads.
    const at = (pattern: RegExp) => r.stderr.search(pattern);
    assert.ok(at(/resolving/) < at(/downloading greet/) && at(/wheel 3\/3/) < at(/layer 1\/\d .* compressing/) && at(/compressing/) < at(/uploading/), r.stderr);
    assert.ok(!r.stderr.includes(ESC));
  });

  it("on a TTY: the live view shows the wheels downloading (count and bytes) while they transfer, then the step's result", async () => {
    const dir = await project("tty-progress");
    const r = await run("script", ["-qfec", imagespecCommandLine(["build", "spec.yaml"]), "/dev/null"], { cwd: dir, env: { ...env(dir), TERM: "xterm" }, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = r.stdout.replace(/\r/g, "");
    // Frames drawn while the index holds the wheels: none finished yet, bytes counted.
    assert.match(out, /python for linux\/amd64: downloading wheels 0\/3 \d+(\.\d)? (B|KiB)/);
    assert.match(out, /python for linux\/amd64: resolving greet and fastmath==2\.0…/);
    const final = out.slice(out.lastIndexOf("[+] Finished"));
    assert.match(final, /python for linux\/amd64: 3 wheels in \d layer\(s\), built, resolved/);
    assert.doesNotMatch(final, /downloading wheels/, "the result replaces the progress line");
  });
});
