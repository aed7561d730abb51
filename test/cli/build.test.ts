// `imagespec build` as scripts and CI see it: usage errors exit 2 before anything is built; the
// --json results match the documented schema (src/cli/results.ts) and --metadata-file holds the
// same; -q prints names only; without a TTY progress is plain timestamped lines; quoted globs are
// expanded; on a TTY (under `script`) the live view redraws in place and ends cleanly.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { buildResultJsonSchema } from "../../src/cli/results.js";
import { join } from "node:path";
import { removeDir, tempDir } from "../support/tools.js";
import { imagespecCli, imagespecCommandLine } from "../support/cli.js";
import { run } from "../support/tools.js";


const ESC = "\u001b";

describe("imagespec build from the command line", () => {
  let dir: string;
  const cli = (args: string[]) => imagespecCli(args, { cwd: dir });

  before(async () => {
    dir = await tempDir();
    await writeFile(join(dir, "spec.yaml"), ["name: app", "base_image: scratch", "env: {A: b}", ""].join("\n"));
  });
  after(async () => {
    await removeDir(dir);
  });

  it("rejects an unknown --builder with exit 2, the accepted names, and writes nothing", async () => {
    const r = await cli(["build", "--builder", "nope", "spec.yaml"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: --builder "nope" is not a builder$/m);
    assert.match(r.stderr, /^hint: use one of auto, native, docker, podman, buildah, buildkit$/m);
    assert.equal(r.stdout, "");
    assert.deepEqual(await readdir(dir), ["spec.yaml"]);
    // flytekit's builder names get what to use instead.
    const flytekit = await cli(["build", "--builder", "default", "spec.yaml"]);
    assert.equal(flytekit.code, 2, flytekit.stderr);
    assert.match(flytekit.stderr, /^hint: flytekit's default builder writes a Dockerfile and runs docker buildx; here that is builder: docker .*; use one of auto, native/m);
  });

  it("rejects an unknown --compression with exit 2", async () => {
    const r = await cli(["build", "--compression", "lz4", "spec.yaml"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--compression "lz4" is not supported/);
    assert.deepEqual(await readdir(dir), ["spec.yaml"]);
  });

  it("rejects a --compression-level out of the compressor's range with exit 2, naming the range", async () => {
    const gzip = await cli(["build", "--compression-level", "12", "spec.yaml"]);
    assert.equal(gzip.code, 2, gzip.stderr);
    assert.match(gzip.stderr, /^error: --compression-level 12 is out of range for gzip$/m);
    assert.match(gzip.stderr, /^hint: use 0-9 for gzip$/m);
    const zstd = await cli(["build", "--compression", "zstd", "--compression-level", "0", "spec.yaml"]);
    assert.equal(zstd.code, 2, zstd.stderr);
    assert.match(zstd.stderr, /^hint: use 1-19 for zstd$/m);
    const word = await cli(["build", "--compression-level", "best", "spec.yaml"]);
    assert.equal(word.code, 2, word.stderr);
    assert.match(word.stderr, /--compression-level.*expected a whole number/);
    assert.deepEqual(await readdir(dir), ["spec.yaml"]);
  });

  it("--compression-level (or IMAGESPEC_COMPRESSION_LEVEL) decides the layer's bytes: levels 6 and 9 make other, smaller blobs than the default 1", async () => {
    const project = await tempDir("imagespec-level-");
    await mkdir(join(project, "src"), { recursive: true });
    await writeFile(join(project, "src", "words.txt"), Array.from({ length: 40_000 }, (_, i) => `line ${i} ${(i * 7919) % 1000} of the words file\n`).join(""));
    await writeFile(join(project, "spec.yaml"), ["name: level", "base_image: scratch", "source_root: src", ""].join("\n"));
    const layerOf = async (out: string): Promise<{ digest: string; size: number }> => {
      const index = JSON.parse(await readFile(join(project, out, "index.json"), "utf8")) as { manifests: { digest: string }[] };
      const manifest = JSON.parse(await readFile(join(project, out, "blobs", "sha256", index.manifests[0]!.digest.slice(7)), "utf8")) as { layers: { digest: string; size: number }[] };
      return manifest.layers.at(-1)!;
    };
    const fast = await imagespecCli(["build", "-q", "-o", "oci:default", "spec.yaml"], { cwd: project });
    assert.equal(fast.code, 0, fast.stderr);
    const flag = await imagespecCli(["build", "-q", "--compression-level", "9", "-o", "oci:flag", "spec.yaml"], { cwd: project });
    assert.equal(flag.code, 0, flag.stderr);
    const env = await imagespecCli(["build", "-q", "-o", "oci:env", "spec.yaml"], { cwd: project, env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home", IMAGESPEC_COMPRESSION_LEVEL: "6" } });
    assert.equal(env.code, 0, env.stderr);
    const [byDefault, nine, six] = [await layerOf("default"), await layerOf("flag"), await layerOf("env")];
    assert.equal(new Set([byDefault.digest, nine.digest, six.digest]).size, 3, "each level is another blob");
    assert.ok(nine.size <= six.size && six.size < byDefault.size, `level 9 (${nine.size} bytes) <= level 6 (${six.size}) < the default level 1 (${byDefault.size})`);
    await removeDir(project);
  });

  it("remembers a big file's digest in the cache dir: the next build takes it instead of reading the file, until the file changes", async () => {
    const project = await tempDir("imagespec-remembered-");
    await mkdir(join(project, "src"), { recursive: true });
    const model = join(project, "src", "model.bin");
    const bytes = randomBytes(5 << 20);
    await writeFile(model, bytes);
    await writeFile(join(project, "spec.yaml"), ["name: model", "base_image: scratch", "source_root: src", ""].join("\n"));
    const cacheDir = join(project, "cache");
    const build = async (): Promise<{ image: string; status: string }> => {
      const r = await imagespecCli(["build", "--json", "--cache-dir", cacheDir, "-o", "oci:out", "spec.yaml"], { cwd: project });
      assert.equal(r.code, 0, r.stderr);
      return buildResultJsonSchema.parse(JSON.parse(r.stdout.trim()));
    };
    // Only a file left alone for 2 s before it is read is remembered.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const first = await build();
    assert.equal(first.status, "built");
    const records = await readdir(join(cacheDir, "digests"));
    assert.equal(records.length, 1, "one record: the 5 MiB file (spec.yaml is small)");
    const recordFile = join(cacheDir, "digests", records[0]!);
    const record = JSON.parse(await readFile(recordFile, "utf8")) as { path: string; digest: string };
    assert.equal(record.path, model);
    assert.equal(record.digest, `sha256:${createHash("sha256").update(bytes).digest("hex")}`);
    // The next build believes the record: a record that lies gives another tag.
    await writeFile(recordFile, JSON.stringify({ ...record, digest: `sha256:${"0".repeat(64)}` }));
    const lied = await build();
    assert.notEqual(lied.image, first.image, "the tag came from the record, not from reading the file");
    // Writing the file (the same bytes) moves its ctime: the record no longer counts, the file is read.
    await writeFile(model, bytes);
    const again = await build();
    assert.equal(again.image, first.image);
    assert.equal(again.status, "exists");
    await removeDir(project);
  });

  it("--builder native on a spec with commands is bad input (exit 2), names the field and writes nothing", async () => {
    await writeFile(join(dir, "cmds.yaml"), ["name: cmds", "base_image: scratch", "commands: [\"echo hi\"]", ""].join("\n"));
    const r = await cli(["build", "--builder", "native", "cmds.yaml"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: --builder native was given, but the native builder cannot build commands \(they run inside the image\) of spec "cmds"$/m);
    assert.deepEqual((await readdir(dir)).sort(), ["cmds.yaml", "spec.yaml"]);
  });

  describe("--dry-run tells the truth", () => {
    it("refuses (exit 2) what the build refuses: builder: native with commands, and --builder native", async () => {
      await writeFile(join(dir, "native-cmds.yaml"), ["name: nc", "base_image: scratch", "builder: native", "commands: [make]", "conda_packages: [numpy]", ""].join("\n"));
      const r = await cli(["build", "--dry-run", "native-cmds.yaml"]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^error: spec "nc" sets builder: native, but the native builder cannot build commands \(they run inside the image\); condaPackages \(conda runs inside the image\)$/m);
      const flag = await cli(["build", "--dry-run", "--builder", "native", "cmds.yaml"]);
      assert.equal(flag.code, 2, flag.stderr);
      assert.match(flag.stderr, /^error: --builder native was given, but the native builder cannot build commands/m);
    });

    it("names the native builder and why", async () => {
      const r = await cli(["build", "--dry-run", "spec.yaml"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^platforms linux\/amd64\nbuilder {3}native; the native builder can build every field of the spec\n1\. base {6}scratch \(empty\)$/m);
    });

    it("names the Dockerfile builder asked for and shows the Dockerfile's steps, not the native plan", async () => {
      await mkdir(join(dir, "df"), { recursive: true });
      await writeFile(join(dir, "df", "app.py"), "print('hi')\n");
      const spec = ["name: df", "registry: 127.0.0.1:5000", "base_image: debian:bookworm-slim", "apt_packages: [curl]", "conda_packages: [scipy]", "conda_channels: [nvidia]", "packages: [numpy]", "commands: [make]", "copy: [app.py]", "builder: buildah"];
      await writeFile(join(dir, "df", "spec.yaml"), [...spec, ""].join("\n"));
      const r = await cli(["build", "--dry-run", "df/spec.yaml"]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      assert.match(lines[2]!, /^builder {3}buildah; builder: buildah was asked for \(buildah version .+\)$/);
      assert.deepEqual(lines.slice(3), [
        "1. base      docker.io/library/debian:bookworm-slim",
        "2. apt       curl (apt-get in the image, from the base's apt sources)",
        "3. conda     scipy (micromamba in the image; channels nvidia)",
        "4. python    packages numpy (uv pip install in the image, resolved there at build time)",
        "5. commands  make (run in the image)",
        "6. files     1 files, 12 bytes -> /root (one layer)",
        "7. config    env PYTHONPATH, IMAGESPEC_ID; entrypoint, cmd, workdir, user, labels",
      ]);
      // builderOptions move the commands after the files and switch the installer, as in the Dockerfile.
      await writeFile(join(dir, "df", "after.yaml"), [...spec, "builder_options: {commands_after_copy: true, python_installer: pip}", ""].join("\n"));
      const after = await cli(["build", "--dry-run", "df/after.yaml"]);
      assert.equal(after.code, 0, after.stderr);
      assert.match(after.stdout, /^4\. python {4}packages numpy \(pip install in the image, resolved there at build time\)\n5\. files .*\n6\. commands {2}make \(run in the image\)$/m);
      // cuda/cudnn come from conda on this path, as the Dockerfile installs them, not as NVIDIA's wheels.
      await writeFile(join(dir, "df", "gpu.yaml"), ["name: gpu", "registry: 127.0.0.1:5000", "base_image: debian:bookworm-slim", "cuda: '12.4'", "cudnn: '9'", "packages: [numpy]", "builder: buildah", ""].join("\n"));
      const gpu = await cli(["build", "--dry-run", "df/gpu.yaml"]);
      assert.equal(gpu.code, 0, gpu.stderr);
      assert.match(gpu.stdout, /^2\. conda {5}cuda=12\.4, cudnn=9 \(micromamba in the image\)\n3\. python {4}packages numpy \(uv pip install in the image, resolved there at build time\)$/m);
      assert.doesNotMatch(gpu.stdout, /nvidia/);
      // A bad value the build would refuse is refused by the dry run too.
      await writeFile(join(dir, "df", "bad.yaml"), [...spec, "builder_options: {python_installer: conda}", ""].join("\n"));
      const bad = await cli(["build", "--dry-run", "df/bad.yaml"]);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /builderOptions\.pythonInstaller: expected "uv" or "pip", got "conda"/);
      assert.equal(bad.stdout, "");
      // A Dockerfile builder pushes: an OCI layout output (or no registry) is refused as the build refuses it.
      const layout = await cli(["build", "--dry-run", "-o", "oci:out", "df/spec.yaml"]);
      assert.equal(layout.code, 1, layout.stderr);
      assert.match(layout.stderr, /^error: spec "df" is built with a Dockerfile builder, which pushes to a registry; an OCI layout output was asked for$/m);
      assert.equal(layout.stdout, "");
    });
  });

  it("--json: one result per image, each matching the schema; --metadata-file holds them all; specs from a quoted glob", async () => {
    const project = join(dir, "json");
    await mkdir(join(project, "specs", "src"), { recursive: true });
    await writeFile(join(project, "specs", "src", "main.py"), "print('hi')\n");
    await writeFile(join(project, "specs", "one.yaml"), ["name: one", "base_image: scratch", "source_root: src", ""].join("\n"));
    await writeFile(join(project, "specs", "two.yaml"), ["specs:", "  two: {base_image: scratch, env: {A: b}}", "  three: {base_image: scratch, env: {A: c}, platform: 'linux/amd64,linux/arm64'}", ""].join("\n"));
    const r = await imagespecCli(["build", "--json", "-o", "oci:out", "--metadata-file", "meta.json", "specs/*.yaml"], { cwd: project });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "no progress with --json");
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 3);
    const results = lines.map((l) => buildResultJsonSchema.parse(JSON.parse(l)));
    assert.deepEqual(results.map((x) => x.image.split(":")[0]).sort(), ["one", "three", "two"]);
    assert.ok(results.every((x) => x.status === "built" && x.location.startsWith("oci:")));
    assert.deepEqual(results.find((x) => x.image.startsWith("three:"))!.platforms, ["linux/amd64", "linux/arm64"]);
    const meta = (JSON.parse(await readFile(join(project, "meta.json"), "utf8")) as unknown[]).map((x) => buildResultJsonSchema.parse(x));
    assert.deepEqual(meta, results);

    // Again: everything exists; -q prints just the names.
    const quiet = await imagespecCli(["build", "-q", "-o", "oci:out", "specs/*.yaml"], { cwd: project });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, "");
    assert.deepEqual(quiet.stdout.trim().split("\n").sort(), results.map((x) => x.image).sort());

    const none = await imagespecCli(["build", "specs/*.yml"], { cwd: project });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /"specs\/\*\.yml" matches no file/);
  });

  it("without a TTY, progress is plain timestamped lines on stderr and the result goes to stdout", async () => {
    const project = join(dir, "plain");
    await mkdir(join(project, "src"), { recursive: true });
    await writeFile(join(project, "src", "main.py"), "print('plain')\n");
    await writeFile(join(project, "spec.yaml"), ["name: plain", "base_image: scratch", "source_root: src", ""].join("\n"));
    const r = await imagespecCli(["build", "-o", "oci:out", "spec.yaml"], { cwd: project });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^plain:[a-z0-9]{26}@sha256:[0-9a-f]{64}\n$/);
    const lines = r.stderr.trim().split("\n");
    for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z plain:[a-z0-9]{26}: /);
    assert.match(r.stderr, /: builder native: the native builder can build every field of the spec\n/);
    assert.match(r.stderr, /: planned \d+ steps for 1 platform\(s\)\n/);
    assert.match(r.stderr, /: layer files sha256:[0-9a-f]{12} /);
    assert.match(lines.at(-1)!, /: done sha256:[0-9a-f]{64}$/);
    assert.ok(!r.stderr.includes(ESC), "no escape sequences without a TTY");
  });

  it("on a TTY, the live view redraws in place, ends with the final frame and gives the cursor back", async () => {
    const project = join(dir, "tty");
    await mkdir(join(project, "src"), { recursive: true });
    // Enough to compress for a few redraws.
    await writeFile(join(project, "src", "data.bin"), randomBytes(24 << 20));
    await writeFile(join(project, "spec.yaml"), ["name: live", "base_image: scratch", "source_root: src", ""].join("\n"));
    const r = await run("script", ["-qfec", imagespecCommandLine(["build", "-o", "oci:out", "spec.yaml"]), "/dev/null"], {
      cwd: project,
      env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home", TERM: "xterm" },
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = r.stdout.replace(/\r/g, "");
    assert.ok(out.startsWith(`${ESC}[?25l`), "the cursor is hidden while the view is live");
    // Up N lines to the top of the last frame, clear to the end, draw the new one.
    const redraws = out.match(new RegExp(`${ESC}\\[\\d+F${ESC}\\[J`, "g")) ?? [];
    assert.ok(redraws.length >= 2, `the view was redrawn in place (${redraws.length} times)`);
    assert.match(out, /\[\+\] Building \d+\.\ds \(0\/1 images\)/);
    const final = out.slice(out.lastIndexOf("[+] Finished"));
    assert.match(final, /^\[\+\] Finished \d+\.\ds \(1\/1 images\)\n => live:[a-z0-9]{26} \(native\) {2}DONE sha256:[0-9a-f]{12} {2}\d+\.\ds\n {4}layer files sha256:[0-9a-f]{12} 24\.0 MiB\n/);
    // The cursor comes back right after the last frame, before the result on stdout.
    const cursorBack = `${ESC}[?25h`;
    assert.ok(final.includes(cursorBack), "the cursor is shown again");
    assert.match(final.slice(final.indexOf(cursorBack) + cursorBack.length), /^live:[a-z0-9]{26}@sha256:[0-9a-f]{64}\n$/);
  });
});
