// A Dockerfile build end to end with buildah (chroot isolation, storage in a temp dir): the Debian
// bookworm + python3 test base in a local docker-registry with Basic auth (so the credentials must
// reach buildah through the auth file), apt packages from deb.debian.org, Python packages from a
// PEP 503 index of test-built wheels on 127.0.0.1 (pip path: uv's image is not reachable here),
// `commands` run inside the image. The result is run with podman (runc) to prove each step.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildImage, type BuildEvent, type BuildResult, type ImageBuilderOptions } from "../../src/build/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec, imageName } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { debianPythonBase } from "../support/debian-base.js";
import { imagespecCli } from "../support/cli.js";
import { podmanRun } from "../support/podman.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, run, skopeo, tempDir } from "../support/tools.js";
import { buildFixtureWheels } from "../support/wheels.js";

describe("Dockerfile builder: buildah, end to end", { timeout: 420_000 }, () => {
  let reg: TestRegistry;
  let registry: Registry;
  let index: PypiIndex;
  let work: string;
  let project: string;
  const base = () => `${reg.host}/debian/python:3.11`;

  before(async () => {
    const started = Date.now();
    const amd64 = await debianPythonBase({ arch: "amd64" });
    reg = await startRegistry({ mode: "basic" });
    registry = registryFor(reg).registry;
    work = await tempDir("imagespec-e2e-buildah-");
    const wheels = await buildFixtureWheels(join(work, "wheels"));
    index = await startPypiIndex({ dir: wheels.dir });
    await registry.copy(amd64.ref, base());
    project = join(work, "project");
    await mkdir(join(project, "src", "app"), { recursive: true });
    await writeFile(join(project, "src", "app", "__init__.py"), "NAME = 'app from sourceRoot'\n");
    await writeFile(join(project, "requirements.txt"), "modern\n");
    process.stderr.write(`[dockerfile-buildah] fixtures ready in ${Date.now() - started} ms\n`);
  });
  after(async () => {
    await index?.stop();
    await registry?.close();
    await reg?.stop();
    if (work) {
      // containers/storage keeps its overlay home mounted; lift what buildah left before removing the dir.
      for (const mount of mountsUnder(work)) await run("umount", ["-l", mount]);
      await removeDir(work);
    }
  });

  function spec(): ImageSpec {
    return new ImageSpec(
      {
        name: "df-app",
        registry: `${reg.host}/team`,
        baseImage: base(),
        pythonVersion: "3.11",
        builder: "buildah",
        builderOptions: { pythonInstaller: "pip" },
        aptPackages: ["jq", "python3-pip"],
        packages: ["greet"],
        requirements: "requirements.txt",
        pipIndex: index.url,
        commands: ["echo \"commands ran as $(id -u) with MODE=$MODE\" > /etc/imagespec-commands", "jq --version >> /etc/imagespec-commands"],
        sourceRoot: "src",
        env: { MODE: "buildah-e2e" },
        labels: { "org.example.team": "ml" },
      },
      { baseDir: project },
    );
  }

  async function build(options: Partial<ImageBuilderOptions> = {}): Promise<{ result: BuildResult; events: BuildEvent[]; ms: number }> {
    const events: BuildEvent[] = [];
    const started = Date.now();
    const result = await buildImage(spec(), {
      registry,
      cacheDir: join(work, "cache"),
      tempDir: work,
      backends: { buildah: { storageDir: join(work, "buildah") } },
      onEvent: (e) => events.push(e),
      ...options,
    });
    return { result, events, ms: Date.now() - started };
  }

  let first: BuildResult;

  it("builds with buildah, pushes with the keychain's credentials, and the image runs: commands ran, jq runs, packages import", async () => {
    const { result, events, ms } = await build();
    first = result;
    process.stderr.write(`[dockerfile-buildah] first build ${ms} ms\n`);
    assert.equal(result.status, "built");
    assert.equal(result.location, result.image);
    assert.match(result.image, new RegExp(`^${reg.host.replace(/\./g, "\\.")}/team/df-app:[a-z0-9]{26}$`));
    const chosen = events.find((e) => e.kind === "builder");
    assert.deepEqual(chosen && { builder: chosen.builder }, { builder: "buildah" });
    // buildah's own output reached the callback, step by step.
    const output = events.filter((e): e is Extract<BuildEvent, { kind: "output" }> => e.kind === "output");
    assert.ok(output.some((e) => e.step === "build" && /STEP \d+\/\d+: RUN/.test(e.line)), "buildah's STEP lines are streamed");
    assert.ok(output.some((e) => e.step === "push"), "the push step's output is streamed");
    // The context and the auth file were temp dirs under `work`, and both are gone.
    const left = (await readdir(work)).filter((n) => n.startsWith("imagespec-context-") || n.startsWith("imagespec-auth-"));
    assert.deepEqual(left, []);
    // The digest is the registry's.
    const found = await registry.exists(result.image);
    assert.equal(found.present && found.digest, result.digest);

    const script = [
      "set -e",
      "cat /etc/imagespec-commands",
      "jq -n '{a: 1}' -c",
      "python3 -c 'import greet, helper, modern; print(greet.greeting(\"buildah\"), modern.VERSION)'",
      "python3 -c 'import app; print(app.NAME)'",
      "echo \"MODE=$MODE PYTHONPATH=$PYTHONPATH IMAGESPEC_ID=$IMAGESPEC_ID\"",
      "pwd",
      "test ! -e /tmp/imagespec-python/requirements.txt && echo 'no requirements left in the image'",
    ].join("\n");
    // podman 4.3's `run` has no --creds: the image goes through an OCI layout (read with the test's credentials).
    const layout = join(work, "layout");
    await registry.copy(result.image, `oci:${layout}:built`);
    const ran = await podmanRun(`oci:${layout}:built`, ["/bin/sh", "-c", script]);
    assert.equal(ran.code, 0, `${ran.stderr}\n${ran.stdout}`);
    const tag = result.image.slice(result.image.lastIndexOf(":") + 1);
    assert.deepEqual(ran.stdout.trim().split("\n"), [
      "commands ran as 0 with MODE=buildah-e2e",
      "jq-1.6",
      '{"a":1}',
      "HELLO BUILDAH! 1",
      "app from sourceRoot",
      `MODE=buildah-e2e PYTHONPATH=/root IMAGESPEC_ID=${tag}`,
      "/root",
      "no requirements left in the image",
    ]);

    // The config carries the spec's label, and the index URL is nowhere in the history.
    const inspect = await skopeo(["inspect", "--config", ...reg.skopeoArgs("single"), `docker://${result.image}`]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const config = JSON.parse(inspect.stdout) as { config: { Labels?: Record<string, string>; Env?: string[] }; history: { created_by?: string }[] };
    assert.equal(config.config.Labels?.["org.example.team"], "ml");
    assert.equal(config.config.Env?.at(-1), `IMAGESPEC_ID=${tag}`);
    assert.ok(!JSON.stringify(config.history).includes(index.url), "the index URL stays out of the image history");
  });

  it("does nothing the second time: the tag exists, buildah is not run", async () => {
    assert.ok(first, "the first build ran");
    const storage = join(work, "buildah");
    const before = (await stat(storage)).mtimeMs;
    reg.resetRequests();
    const { result, events } = await build();
    assert.equal(result.status, "exists");
    assert.equal(result.digest, first.digest);
    assert.deepEqual(
      events.map((e) => e.kind),
      ["plan", "exists"],
    );
    const requests = (await reg.requests()).filter((r) => r.path !== "/v2/");
    assert.ok(requests.every((r) => r.method === "HEAD" || r.method === "GET"), JSON.stringify(requests));
    assert.ok(!requests.some((r) => r.method === "PUT" || r.method === "POST" || r.method === "PATCH"));
    assert.equal((await stat(storage)).mtimeMs, before, "buildah's storage was not touched");
  });

  it("imagespec build (the CLI) with --builder buildah: credentials from --password-stdin, progress with buildah's lines, the layer cache kept for the next build", async () => {
    const home = join(work, "cli-home");
    await mkdir(home, { recursive: true });
    const file = join(project, "cli.yaml");
    const writeSpec = (run: string) =>
      writeFile(file, ["name: df-cli", `registry: ${reg.host}/team`, `base_image: ${base()}`, 'commands: ["echo cli-built > /cli.txt"]', `labels: {run: "${run}"}`, ""].join("\n"));
    const cli = () =>
      imagespecCli(["build", "--builder", "buildah", "--username", reg.username!, "--password-stdin", file], {
        cwd: project,
        env: { PATH: process.env.PATH, HOME: home },
        input: `${reg.password!}\n`,
        timeoutMs: 300_000,
      });

    await writeSpec("one");
    const first = await cli();
    assert.equal(first.code, 0, first.stderr);
    const [image, digest] = first.stdout.trim().split("@");
    const found = await registry.exists(image!);
    assert.equal(found.present && found.digest, digest);
    assert.match(first.stderr, /: builder buildah: builder: buildah was asked for/);
    assert.match(first.stderr, /: buildah build \| STEP \d+\/\d+: RUN echo cli-built > \/cli\.txt$/m);
    assert.match(first.stderr, /: buildah push \| /);
    assert.ok(!first.stderr.includes(reg.password!), "the password is never printed");

    // Only the label changed: the RUN step comes from buildah's cache, kept under the repository's cache name.
    await writeSpec("two");
    const second = await cli();
    assert.equal(second.code, 0, second.stderr);
    assert.notEqual(second.stdout.trim().split("@")[0], image);
    const runStep = second.stderr.split("\n").findIndex((l) => /STEP \d+\/\d+: RUN echo cli-built/.test(l));
    assert.ok(runStep >= 0, second.stderr);
    assert.match(second.stderr.split("\n")[runStep + 1] ?? "", /Using cache/, second.stderr);
  });

  it("a failing command fails the build with buildah's last lines and exit code; nothing is pushed, the temp dirs are gone", async () => {
    const failing = new ImageSpec(
      { name: "df-fail", registry: `${reg.host}/team`, baseImage: base(), builder: "buildah", commands: ["echo about to fail && exit 7"] },
      { baseDir: project },
    );
    const lines: string[] = [];
    await assert.rejects(
      buildImage(failing, {
        registry,
        cacheDir: join(work, "cache"),
        tempDir: work,
        backends: { buildah: { storageDir: join(work, "buildah") } },
        onEvent: (e) => {
          if (e.kind === "output") lines.push(e.line);
        },
      }),
      (e: Error & { code?: string; exitCode?: number | null; tail?: string[] }) => {
        assert.equal(e.code, "BUILDER_FAILED");
        assert.match(e.message, /^buildah build exited with code \d+; last lines:/);
        assert.ok(typeof e.exitCode === "number" && e.exitCode !== 0);
        assert.ok(e.tail?.some((l) => /exit status 7/.test(l)), e.message);
        return true;
      },
    );
    assert.ok(lines.includes("about to fail"), "the command's own output was streamed");
    const name = await imageName(failing);
    assert.equal((await registry.exists(name)).present, false);
    const left = (await readdir(work)).filter((n) => n.startsWith("imagespec-context-") || n.startsWith("imagespec-auth-"));
    assert.deepEqual(left, []);
    // --force-rm: the failed step's container is gone, nothing of it stays mounted.
    assert.deepEqual(mountsUnder(join(work, "buildah")).filter((m) => m.endsWith("/merged")), []);
  });
});

/** Mount points at or below `dir` (from /proc/self/mountinfo), deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}
