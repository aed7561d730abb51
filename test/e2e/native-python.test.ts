// The native builder with Python packages, end to end and checked as a user would: a Debian
// bookworm + python3 base (debootstrap, cached by the fixture) pushed to a local docker-registry,
// wheels built by the tests and served from a PEP 503 index on 127.0.0.1, the image run with
// podman (runc), its layers read by skopeo and tar, and the registry's access log counted.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createWriteStream } from "node:fs";
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { buildSpec, describePlan, planBuild, type BuildEvent, type BuildOptions } from "../../src/build/index.js";
import { indexFromImages, type Platform } from "../../src/oci/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { debianPythonBase, type DebianBase } from "../support/debian-base.js";
import { podmanRun } from "../support/podman.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startRegistry, type RequestRecord, type TestRegistry } from "../support/registry.js";
import { removeDir, runOk, skopeo, tempDir } from "../support/tools.js";
import { buildFixtureWheels, type FixtureWheels } from "../support/wheels.js";

const SITE = "usr/local/lib/python3.11/dist-packages";

async function writeProject(dir: string, main = "print('app main')\n"): Promise<void> {
  await mkdir(join(dir, "src", "app"), { recursive: true });
  await writeFile(join(dir, "src", "app", "__init__.py"), "NAME = 'app'\n");
  await writeFile(join(dir, "src", "app", "main.py"), main);
  await writeFile(join(dir, "requirements.txt"), "# from the requirements file\nmodern\n");
}

/** `GET 5, HEAD 7, ...` for the timing lines this file prints. */
function summarize(requests: readonly RequestRecord[]): string {
  const counts = new Map<string, number>();
  for (const r of requests) if (r.path !== "/v2/") counts.set(r.method, (counts.get(r.method) ?? 0) + 1);
  return [...counts].map(([method, n]) => `${method} ${n}`).join(", ");
}

const blobUploads = (requests: readonly RequestRecord[]) => requests.filter((r) => r.method === "PUT" && r.path.includes("/blobs/uploads/"));
const manifestPuts = (requests: readonly RequestRecord[]) => requests.filter((r) => r.method === "PUT" && r.path.includes("/manifests/"));
const uploadedDigests = (requests: readonly RequestRecord[]) =>
  blobUploads(requests).map((r) => decodeURIComponent(/[?&]digest=([^&]+)/.exec(r.path)?.[1] ?? "")).sort();

describe("native builder: Python packages on a Debian base", { timeout: 300_000 }, () => {
  let reg: TestRegistry;
  let registry: Registry;
  let index: PypiIndex;
  let wheels: FixtureWheels;
  let work: string;
  let amd64: DebianBase;
  let arm64: DebianBase;
  const base = () => `${reg.host}/debian/python:3.11`;

  before(async () => {
    const started = Date.now();
    [amd64, arm64] = await Promise.all([debianPythonBase({ arch: "amd64" }), debianPythonBase({ arch: "arm64" })]);
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir("imagespec-e2e-python-");
    wheels = await buildFixtureWheels(join(work, "wheels"));
    index = await startPypiIndex({ dir: wheels.dir });
    // The base as users meet it: one tag, an index over an amd64 and an arm64 image.
    await registry.copy(amd64.ref, `${reg.host}/debian/python:amd64`);
    await registry.copy(arm64.ref, `${reg.host}/debian/python:arm64`);
    const images = await Promise.all(
      [amd64, arm64].map(async (b) => ({ image: await registry.getImage(`${reg.host}/debian/python:${b.arch}`, b.platform), platform: b.platform as Platform })),
    );
    await registry.push(base(), indexFromImages(images));
    process.stderr.write(`[native-python] fixtures ready in ${Date.now() - started} ms\n`);
  });
  after(async () => {
    await index?.stop();
    await registry?.close();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  function spec(project: string, extra: Record<string, unknown> = {}): ImageSpec {
    return new ImageSpec(
      {
        name: "py-app",
        registry: `${reg.host}/team`,
        baseImage: base(),
        pythonVersion: "3.11",
        packages: ["greet", "fastmath==2.0"],
        requirements: "requirements.txt",
        pipIndex: index.url,
        sourceRoot: "src",
        env: { MODE: "e2e" },
        ...extra,
      },
      { baseDir: project },
    );
  }

  async function build(s: ImageSpec, options: BuildOptions): Promise<{ result: Awaited<ReturnType<typeof buildSpec>>; events: BuildEvent[]; ms: number }> {
    const events: BuildEvent[] = [];
    const started = Date.now();
    const result = await buildSpec(s, { registry, ...options, onEvent: (e) => events.push(e) });
    return { result, events, ms: Date.now() - started };
  }

  const pythonEvents = (events: BuildEvent[]) => events.filter((e): e is Extract<BuildEvent, { kind: "python" }> => e.kind === "python");

  let project: string;
  let cache: string;
  let first: Awaited<ReturnType<typeof buildSpec>>;

  it("builds, pushes, and the image runs: packages import, the console script runs, the source and env are there", async () => {
    project = join(work, "project");
    cache = join(work, "cache");
    await writeProject(project);
    const built = await build(spec(project), { cacheDir: cache });
    first = built.result;
    process.stderr.write(`[native-python] first build ${built.ms} ms\n`);
    assert.equal(first.status, "built");
    assert.deepEqual(
      pythonEvents(built.events).map((e) => [e.platform, e.base, e.source, e.interpreter, e.wheels, e.resolved]),
      [["linux/amd64", "layers", "built", "/usr/bin/python3.11", 4, true]],
    );

    const script = [
      "set -e",
      "python3 -c 'import fastmath, greet, helper, modern; print(fastmath.add(2, 3), modern.VERSION, greet.greeting(\"podman\"))'",
      "set +e; greet bob; echo \"greet exit $?\"; set -e",
      "command -v greet",
      "head -1 /usr/local/bin/greet",
      "python3 -m app.main",
      "cat /root/app/__init__.py",
      "echo \"MODE=$MODE PYTHONPATH=$PYTHONPATH\"",
    ].join("\n");
    const ran = await podmanRun(first.image, ["/bin/sh", "-c", script]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(ran.stdout.trim().split("\n"), [
      "5 1 HELLO PODMAN!",
      "HELLO BOB!",
      "greet exit 3",
      "/usr/local/bin/greet",
      "#!/usr/bin/python3.11",
      "app main",
      "NAME = 'app'",
      "MODE=e2e PYTHONPATH=/root",
    ]);

    // skopeo sees the base layer reused, then the Python layer, then the files layer.
    const inspect = await skopeo(["inspect", ...reg.skopeoArgs("single"), `docker://${first.image}`]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const layers = (JSON.parse(inspect.stdout) as { Layers: string[] }).Layers;
    assert.equal(layers.length, 3);
    assert.equal(layers[0], amd64.layerDigest);
    const config = JSON.parse((await skopeo(["inspect", "--config", ...reg.skopeoArgs("single"), `docker://${first.image}`])).stdout) as {
      history: { created_by?: string }[];
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(
      config.history.map((h) => h.created_by).slice(-3),
      ["imagespec: python (shared) fastmath==2.0 greet==1.0 helper==1.2 modern==1.0", "imagespec: files -> /root", "imagespec: config"],
    );

    // The step cache went into the same repository as an OCI artifact that keeps the Python layer alive.
    const stored = built.events.filter((e): e is Extract<BuildEvent, { kind: "step-cache" }> => e.kind === "step-cache");
    assert.deepEqual(stored.map((e) => [e.platform, e.step, e.status]), [["linux/amd64", "base-python", "stored"], ["linux/amd64", "python", "stored"]]);
    assert.match(stored[1]!.tag, /^imagespec-cache-[a-z2-7]{26}$/);
    const artifact = JSON.parse((await skopeo(["inspect", "--raw", ...reg.skopeoArgs("single"), `docker://${reg.host}/team/py-app:${stored[1]!.tag}`])).stdout) as {
      artifactType: string;
      config: { mediaType: string; size: number };
      layers: { digest: string; annotations: Record<string, string> }[];
    };
    assert.equal(artifact.artifactType, "application/vnd.imagespec.step-cache.v1+json");
    assert.deepEqual([artifact.config.mediaType, artifact.config.size], ["application/vnd.oci.empty.v1+json", 2]);
    assert.deepEqual(artifact.layers.map((l) => l.digest), [layers[1]]);
    assert.equal(artifact.layers[0]!.annotations["dev.imagespec.layer.diff-id"], config.rootfs.diff_ids[1]);
  });

  it("builds linux/amd64 and linux/arm64: an index over both, the arm64 Python layer holds the aarch64 wheel", async () => {
    const both = await build(spec(project, { platform: "linux/amd64,linux/arm64" }), { cacheDir: cache });
    process.stderr.write(`[native-python] two-platform build ${both.ms} ms\n`);
    const raw = JSON.parse((await skopeo(["inspect", "--raw", ...reg.skopeoArgs("single"), `docker://${both.result.image}`])).stdout) as {
      manifests: { platform: { os: string; architecture: string } }[];
    };
    assert.deepEqual(raw.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`), ["linux/amd64", "linux/arm64"]);

    const entriesOf = async (platform: string): Promise<string[]> => {
      const image = await registry.getImage(both.result.image, platform);
      const file = join(work, `python-layer-${platform.replace("/", "-")}.tar.gz`);
      await pipeline(await image.layers[1]!.open(), createWriteStream(file));
      return (await runOk("tar", ["-tzf", file])).stdout.split("\n").filter(Boolean);
    };
    const arm = await entriesOf("linux/arm64");
    const amd = await entriesOf("linux/amd64");
    assert.ok(arm.includes(`${SITE}/fastmath/_speedups.cpython-311-aarch64-linux-gnu.so`), arm.join("\n"));
    assert.ok(arm.includes(`${SITE}/fastmath-2.0.dist-info/RECORD`));
    assert.ok(!arm.some((p) => p.includes("x86_64")), "no x86-64 file in the arm64 layer");
    assert.ok(amd.includes(`${SITE}/fastmath/_speedups.cpython-311-x86_64-linux-gnu.so`));
    // The same wheels for the same target make the same layer blob as in the amd64-only image.
    const amdImage = await registry.getImage(both.result.image, "linux/amd64");
    assert.equal(amdImage.layers[1]!.descriptor.digest, (await registry.getImage(first.image)).layers[1]!.descriptor.digest);
    assert.deepEqual(pythonEvents(both.events).map((e) => [e.platform, e.base, e.source]), [["linux/amd64", "listing-cache", "local-cache"], ["linux/arm64", "layers", "built"]]);
  });

  it("does nothing the second time: one manifest request, nothing pushed", async () => {
    reg.resetRequests();
    index.resetRequests();
    const again = await build(spec(project), { cacheDir: cache });
    assert.equal(again.result.status, "exists");
    assert.equal(again.result.digest, first.digest);
    const requests = (await reg.requests()).filter((r) => r.path !== "/v2/");
    assert.deepEqual(requests.map((r) => `${r.method} ${r.path.replace(/[^/]+$/, "")}`), ["HEAD /v2/team/py-app/manifests/"]);
    assert.deepEqual(index.requests(), []);
  });

  it("after a source change pushes only the files layer, the config and the manifest", async () => {
    await writeFile(join(project, "src", "app", "main.py"), "print('changed')\n");
    reg.resetRequests();
    index.resetRequests();
    const changed = await build(spec(project), { cacheDir: cache });
    assert.equal(changed.result.status, "built");
    assert.deepEqual(pythonEvents(changed.events).map((e) => [e.base, e.source, e.resolved]), [["listing-cache", "local-cache", false]]);
    const requests = await reg.requests();
    process.stderr.write(`[native-python] source change, warm cache ${changed.ms} ms; registry: ${summarize(requests)}\n`);
    const image = await registry.getImage(changed.result.image);
    assert.deepEqual(uploadedDigests(requests), [image.config.descriptor.digest, image.layers[2]!.descriptor.digest].sort());
    assert.equal(manifestPuts(requests).length, 1, JSON.stringify(manifestPuts(requests)));
    assert.equal(image.layers[1]!.descriptor.digest, (await registry.getImage(first.image)).layers[1]!.descriptor.digest);
    assert.deepEqual(index.requests(), [], "neither pip nor a download touched the index");
    assert.deepEqual(
      changed.events.filter((e) => e.kind === "step-cache").map((e) => [(e as { step: string }).step, (e as { status: string }).status]),
      [["python", "present"]],
    );
  });

  it("on a fresh runner (empty cache dir) finds the Python layer through the registry's step cache", async () => {
    await writeFile(join(project, "src", "app", "main.py"), "print('fresh runner')\n");
    const freshCache = join(work, "fresh-cache");
    reg.resetRequests();
    index.resetRequests();
    const fresh = await build(spec(project), { cacheDir: freshCache });
    assert.deepEqual(pythonEvents(fresh.events).map((e) => [e.base, e.source, e.resolved]), [["registry-cache", "registry-cache", false]]);
    assert.deepEqual(index.requests(), [], "pip did not run and no wheel was downloaded");
    const requests = await reg.requests();
    process.stderr.write(`[native-python] source change, empty cache ${fresh.ms} ms; registry: ${summarize(requests)}\n`);
    const image = await registry.getImage(fresh.result.image);
    const pythonLayer = image.layers[1]!.descriptor.digest;
    assert.equal(pythonLayer, (await registry.getImage(first.image)).layers[1]!.descriptor.digest);
    assert.deepEqual(uploadedDigests(requests), [image.config.descriptor.digest, image.layers[2]!.descriptor.digest].sort());
    // Two cache entries answered (the base's interpreter, the Python layers); the base layer was not read.
    assert.equal(requests.filter((r) => r.method === "GET" && /\/manifests\/imagespec-cache-[a-z2-7]{26}$/.test(r.path) && r.status === 200).length, 2);
    assert.ok(!requests.some((r) => r.path.endsWith(`/blobs/${amd64.layerDigest}`) && r.method === "GET"), "the base layer was not downloaded");
    assert.deepEqual(fresh.events.filter((e) => e.kind === "step-cache"), [], "nothing new to record");
    assert.equal(manifestPuts(requests).length, 1);

    const ran = await podmanRun(fresh.result.image, ["/bin/sh", "-c", "python3 -m app.main && greet fresh; true"]);
    assert.equal(ran.stdout, "fresh runner\nHELLO FRESH!\n", ran.stderr);
  });

  it("gives identical digests from two checkouts in different folders with separate caches", async () => {
    const a = join(work, "checkout-a");
    const b = join(work, "elsewhere", "deeper", "checkout-b");
    await writeProject(a, "print('same')\n");
    await mkdir(join(work, "elsewhere", "deeper"), { recursive: true });
    await cp(a, b, { recursive: true });
    const [one, two] = await Promise.all([
      build(spec(a), { output: `oci:${join(work, "layout-a")}`, cacheDir: join(work, "cache-a") }),
      build(spec(b), { output: `oci:${join(work, "layout-b")}`, cacheDir: join(work, "cache-b") }),
    ]);
    assert.equal(one.result.image, two.result.image);
    assert.equal(one.result.digest, two.result.digest);
    assert.deepEqual(pythonEvents(two.events).map((e) => e.source), ["built"]);
    await rm(join(work, "cache-b"), { recursive: true, force: true });
  });

  it("lists in the dry-run plan which wheel goes into which layer once the resolution is cached", async () => {
    const plan = describePlan(await planBuild(spec(project), { cacheDir: cache }));
    assert.match(plan, /2\. python +packages greet, fastmath==2\.0; requirements requirements\.txt; index http:\/\/127\.0\.0\.1:\d+\/simple\//);
    assert.match(plan, /linux\/amd64: Python 3\.11 \(\/usr\/bin\/python3\.11\); resolution cached, 4 wheels:/);
    assert.match(plan, new RegExp(`layer 1 \\(shared, [\\d.]+ KiB\\): ${wheels.fastmathAmd64.filename.replace(/\./g, "\\.")}, greet-1\\.0-py3-none-any\\.whl, helper-1\\.2-py3-none-any\\.whl, modern-1\\.0-py3-none-any\\.whl`));
    const fresh = describePlan(await planBuild(spec(project), { cacheDir: join(work, "never-built") }));
    assert.match(fresh, /linux\/amd64: resolved at build time/);
  });

  it("names a package that has no wheel for the target, and says what builder would be needed", async () => {
    const noArm = spec(project, { packages: ["x86only"], requirements: undefined, platform: "linux/arm64" });
    await assert.rejects(build(noArm, { cacheDir: cache }), (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, "PYTHON_NO_WHEEL_FOR_TARGET");
      assert.match(error.message, /^spec "py-app": no installable wheel of "x86only" for linux\/arm64, CPython 3\.11, glibc 2\.36/);
      assert.match(error.hint ?? "", /Dockerfile builder \(docker, podman, buildah, buildkit\)/);
      return true;
    });
    await assert.rejects(build(spec(project, { packages: ["x86only"], platform: "linux/arm64", builder: "native" }), { cacheDir: cache }), (error: Error & { hint?: string }) => {
      assert.match(error.message, /x86only/);
      assert.match(error.hint ?? "", /builder: native/);
      return true;
    });
  });
});
