// The native builder against real parts: a docker-registry, base images pushed into it, and
// skopeo/umoci reading what was built. Nothing here runs a container; the files and config the
// image carries are checked after `umoci unpack`, and busybox runs the copied script in a chroot.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { NativeBuilder, buildSpec, describePlan, planBuild } from "../../src/build/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeMultiPlatformImage, makeTestImage, removeDir, run, runOk, skopeo, tempDir } from "../support/tools.js";
import { registryFor } from "../registry/util.js";
import type { Registry } from "../../src/registry/index.js";

async function writeProject(dir: string, main = 'print("hi")\n'): Promise<void> {
  await mkdir(join(dir, "src", "pkg"), { recursive: true });
  await writeFile(join(dir, "src", "main.py"), main);
  await writeFile(join(dir, "src", "pkg", "__init__.py"), "VALUE = 42\n");
  await writeFile(join(dir, "src", "run.sh"), "#!/bin/sh\necho \"ran with PYTHONPATH=$PYTHONPATH\"\n");
  await chmod(join(dir, "src", "run.sh"), 0o755);
  await writeFile(join(dir, "src", ".gitignore"), "*.log\n");
  await writeFile(join(dir, "src", "debug.log"), "ignored\n");
}

async function manifestOf(ref: string, args: string[]): Promise<{ layers: { digest: string }[]; annotations?: Record<string, string> }> {
  const out = await skopeo(["inspect", "--raw", ...args, ref]);
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout) as { layers: { digest: string }[] };
}

describe("native builder", () => {
  let reg: TestRegistry;
  let registry: Registry;
  let work: string;
  let cache: string;
  const base = () => `${reg.host}/base/busybox:1`;

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir();
    cache = join(work, "cache");
    const image = await makeTestImage({ env: ["PATH=/bin", "FROM_BASE=1"] });
    await registry.copy(image.ref, base());
    await image.cleanup();
  });
  after(async () => {
    await registry.close();
    await reg.stop();
    await removeDir(work);
  });

  function spec(project: string, extra: Record<string, unknown> = {}): ImageSpec {
    return new ImageSpec(
      { name: "app", registry: `${reg.host}/team`, baseImage: base(), sourceRoot: "src", env: { MODE: "test" }, ...extra },
      { baseDir: project },
    );
  }

  it("builds files and config onto a registry base, pushes, and the image runs its copied script", async () => {
    const project = join(work, "p1");
    await writeProject(project);
    const result = await buildSpec(spec(project), { registry, cacheDir: cache });
    assert.equal(result.status, "built");
    assert.match(result.image, new RegExp(`^${reg.host}/team/app:[a-z2-7]{26}$`));

    const inspected = JSON.parse((await skopeo(["inspect", "--config", ...reg.skopeoArgs("single"), `docker://${result.image}`])).stdout) as {
      config: { Env: string[]; WorkingDir: string };
    };
    const env = inspected.config.Env;
    assert.deepEqual(env.slice(0, 2), ["PATH=/bin", "FROM_BASE=1"], "base env kept first");
    assert.ok(env.includes("MODE=test"));
    assert.ok(env.includes("PYTHONPATH=/root"));
    assert.equal(env.at(-1), `IMAGESPEC_ID=${result.image.split(":").at(-1)}`, "the spec id comes last");
    assert.equal(inspected.config.WorkingDir, "/root");

    // The base layer is reused as it is: same digest, first in the list.
    const baseManifest = await manifestOf(`docker://${base()}`, reg.skopeoArgs("single"));
    const built = await manifestOf(`docker://${result.image}`, reg.skopeoArgs("single"));
    assert.equal(built.layers.length, 2);
    assert.equal(built.layers[0]!.digest, baseManifest.layers[0]!.digest);
    assert.equal(built.annotations?.["org.opencontainers.image.base.name"], base());

    // Unpack with umoci (an independent reader) and run the copied script with the base's busybox.
    const layout = join(work, "unpacked-layout");
    await runOk("skopeo", ["copy", "--insecure-policy", ...reg.skopeoArgs("src"), `docker://${result.image}`, `oci:${layout}:app`]);
    const bundle = join(work, "bundle");
    await runOk("umoci", ["unpack", "--rootless", "--image", `${layout}:app`, bundle]);
    const rootfs = join(bundle, "rootfs");
    assert.equal(await readFile(join(rootfs, "root", "pkg", "__init__.py"), "utf8"), "VALUE = 42\n");
    await assert.rejects(readFile(join(rootfs, "root", "debug.log")), "a .gitignored file is not copied");
    const ran = await run("chroot", [rootfs, "/bin/sh", "-c", "PYTHONPATH=/root /root/run.sh"]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), "ran with PYTHONPATH=/root");
  });

  it("does nothing the second time: one existence request, no uploads", async () => {
    const project = join(work, "p2");
    await writeProject(project, "print('second')\n");
    const first = await buildSpec(spec(project), { registry, cacheDir: cache });
    reg.resetRequests();
    const again = await buildSpec(spec(project), { registry, cacheDir: cache });
    assert.equal(again.status, "exists");
    assert.equal(again.digest, first.digest);
    const requests = (await reg.requests()).filter((r) => r.path !== "/v2/");
    assert.deepEqual(requests.map((r) => r.method), ["HEAD"], JSON.stringify(requests));
    assert.match(requests[0]!.path, /\/manifests\//);
  });

  it("after a source change pushes only the files layer and the manifest", async () => {
    const project = join(work, "p3");
    await writeProject(project, "print('v1')\n");
    await buildSpec(spec(project), { registry, cacheDir: cache });
    await writeFile(join(project, "src", "main.py"), "print('v2')\n");
    reg.resetRequests();
    const changed = await buildSpec(spec(project), { registry, cacheDir: cache });
    assert.equal(changed.status, "built");
    const uploads = (await reg.requests()).filter((r) => r.method === "PUT" || r.method === "PATCH" || (r.method === "POST" && !r.path.includes("mount=")));
    const blobPuts = uploads.filter((r) => r.method === "PUT" && r.path.includes("/blobs/uploads/"));
    // The files layer and the config are new; the base layer is neither re-sent nor mounted.
    assert.equal(blobPuts.length, 2, JSON.stringify(uploads));
    assert.equal(uploads.filter((r) => r.method === "PUT" && r.path.includes("/manifests/")).length, 1);
  });

  it("gives the same digest from two checkouts in different folders", async () => {
    const a = join(work, "checkout-a");
    const b = join(work, "elsewhere", "checkout-b");
    await writeProject(a, "print('same')\n");
    await mkdir(join(work, "elsewhere"), { recursive: true });
    await cp(a, b, { recursive: true });
    const first = await buildSpec(spec(a), { output: `oci:${join(work, "layout-a")}`, registry, cacheDir: join(work, "cache-a") });
    const second = await buildSpec(spec(b), { output: `oci:${join(work, "layout-b")}`, registry, cacheDir: join(work, "cache-b") });
    assert.equal(first.image, second.image);
    assert.equal(first.digest, second.digest);
  });

  it("writes an OCI layout that skopeo reads when the spec has no registry", async () => {
    const project = join(work, "p5");
    await writeProject(project);
    const layout = join(work, "out-layout");
    const noRegistry = new ImageSpec({ name: "local", baseImage: "scratch", sourceRoot: "src", cmd: ["/root/run.sh"] }, { baseDir: project });
    const result = await buildSpec(noRegistry, { output: `oci:${layout}`, cacheDir: cache });
    assert.match(result.location, /^oci:.*:local:[a-z2-7]{26}$/);
    const out = await skopeo(["inspect", `oci:${layout}:${result.image}`]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal((JSON.parse(out.stdout) as { Layers: string[] }).Layers.length, 1);
    const again = await buildSpec(noRegistry, { output: `oci:${layout}`, cacheDir: cache });
    assert.equal(again.status, "exists");
  });

  it("builds one manifest per platform and an index from a two-platform base", async () => {
    const multi = await makeMultiPlatformImage();
    const multiBase = `${reg.host}/base/multi:1`;
    await registry.copy(multi.ref, multiBase);
    await multi.cleanup();
    const project = join(work, "p6");
    await writeProject(project);
    const result = await buildSpec(spec(project, { baseImage: multiBase, platform: "linux/amd64,linux/arm64" }), { registry, cacheDir: cache });
    const index = JSON.parse((await skopeo(["inspect", "--raw", ...reg.skopeoArgs("single"), `docker://${result.image}`])).stdout) as {
      manifests: { platform: { architecture: string } }[];
    };
    assert.deepEqual(index.manifests.map((m) => m.platform.architecture).sort(), ["amd64", "arm64"]);
    const arm = await skopeo(["inspect", "--override-arch", "arm64", ...reg.skopeoArgs("single"), `docker://${result.image}`]);
    assert.equal((JSON.parse(arm.stdout) as { Architecture: string }).Architecture, "arm64");
  });

  it("builds a nested base spec first, once, and layers on top of it", async () => {
    const project = join(work, "p7");
    await writeProject(project);
    const inner = new ImageSpec({ name: "inner", registry: `${reg.host}/team`, baseImage: base(), env: { LEVEL: "inner" } }, { baseDir: project });
    const outer = spec(project, { name: "outer", baseImage: inner });
    const builder = new NativeBuilder({ registry, cacheDir: cache });
    const [a, b] = await Promise.all([builder.build(outer), builder.build(inner)]);
    await builder.close();
    assert.equal(a!.status, "built");
    assert.equal(b!.status, "built");
    const cfg = JSON.parse((await skopeo(["inspect", "--config", ...reg.skopeoArgs("single"), `docker://${a!.image}`])).stdout) as { config: { Env: string[] } };
    assert.ok(cfg.config.Env.includes("LEVEL=inner"), cfg.config.Env.join(" "));
  });

  it("stops on an existence-check error and pushes nothing", async () => {
    const locked = await startRegistry({ mode: "basic" });
    try {
      const project = join(work, "p8");
      await writeProject(project);
      const wrong = registryFor(locked, { credentials: { username: locked.username!, password: "wrong" } }).registry;
      const s = new ImageSpec({ name: "app", registry: locked.host, baseImage: "scratch", sourceRoot: "src" }, { baseDir: project });
      await assert.rejects(buildSpec(s, { registry: wrong, cacheDir: cache }), (e: Error & { code?: string }) => {
        assert.match(e.message, new RegExp(locked.host.replace(/\./g, "\\.")));
        return true;
      });
      const writes = (await locked.requests()).filter((r) => r.method !== "GET" && r.method !== "HEAD");
      assert.deepEqual(writes, []);
      await wrong.close();
    } finally {
      await locked.stop();
    }
  });

  it("refuses fields it cannot build natively, naming them, and prints a plan", async () => {
    const project = join(work, "p9");
    await writeProject(project);
    const s = spec(project, { commands: ["echo hi"], condaPackages: ["numpy"] });
    await assert.rejects(buildSpec(s, { registry, cacheDir: cache }), (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, "NATIVE_UNSUPPORTED");
      assert.match(e.message, /commands/);
      assert.match(e.message, /condaPackages/);
      assert.match(e.hint ?? "", /Dockerfile builder \(docker, podman, buildah, buildkit\)/);
      return true;
    });
    const plan = describePlan(await planBuild(spec(project)));
    assert.match(plan, /1\. base +127\.0\.0\.1:\d+\/base\/busybox:1/);
    assert.match(plan, /2\. files +4 files/);
    assert.match(plan, /IMAGESPEC_ID/);
  });
});
