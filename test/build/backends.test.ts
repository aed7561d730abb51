// The Dockerfile builders: the argv each one runs (platforms, tags, push, insecure registries,
// credentials only through files), detection with the tool present (a script on PATH that really
// runs) and absent (an empty PATH), failures reported with the last lines and the exit code, the
// temp auth dir, and the choice `auto` makes.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createBackend, planBuild, type BackendBuildRequest, type BuildContext, type Detection } from "../../src/build/index.js";
import { BuildahBackend, BuildkitBackend, DockerBackend, PodmanBackend, layerCacheName, writeAuthDir } from "../../src/build/backends/index.js";
import { selectBuilder } from "../../src/build/select.js";
import { Credential } from "../../src/registry/index.js";
import { ImageSpec, type ImageSpecInput } from "../../src/spec/index.js";
import { removeDir, tempDir } from "../support/tools.js";

const IMAGE = "registry.example.com/team/app:abc";
const context: BuildContext = { dir: "/ctx", dockerfile: "/ctx/Dockerfile", remove: async () => undefined };

function request(extra: Partial<BackendBuildRequest> = {}): BackendBuildRequest {
  return {
    context,
    buildId: "b1",
    image: IMAGE,
    platforms: ["linux/amd64"],
    insecureHosts: new Set(),
    targetHost: "registry.example.com",
    pullHosts: ["docker.io"],
    authDir: "/tmp/auth",
    ...extra,
  };
}

describe("backend argv", () => {
  it("buildah: chroot isolation, layers, private storage, one platform built to a local name then pushed, then the local name removed", () => {
    const backend = new BuildahBackend({ storageDir: "/cache/buildah", storageDriver: "vfs" });
    const calls = backend.invocations(request());
    const global = ["--root", "/cache/buildah/root", "--runroot", "/cache/buildah/runroot", "--storage-driver", "vfs"];
    assert.deepEqual(
      calls.map((c) => c.argv),
      [
        ["buildah", ...global, "build", "--isolation", "chroot", "--layers", "--force-rm", "--platform", "linux/amd64", "--tag", "localhost/imagespec-build:b1", "--file", "/ctx/Dockerfile", "/ctx"],
        ["buildah", ...global, "push", "localhost/imagespec-build:b1", `docker://${IMAGE}`],
        ["buildah", ...global, "tag", "localhost/imagespec-build:b1", layerCacheName(IMAGE)],
        ["buildah", ...global, "rmi", "localhost/imagespec-build:b1"],
      ],
    );
    assert.deepEqual(calls.map((c) => c.optional ?? false), [false, false, true, true]);
    assert.deepEqual(calls[0]!.env, { REGISTRY_AUTH_FILE: "/tmp/auth/auth.json", TMPDIR: "/cache/buildah/tmp" });
  });

  it("the layer cache name is the target repository under localhost/imagespec-cache, whatever the host, tag or digest", () => {
    assert.equal(layerCacheName("registry.example.com/team/app:abc"), "localhost/imagespec-cache/team/app:latest");
    assert.equal(layerCacheName("127.0.0.1:5000/app:v1"), "localhost/imagespec-cache/app:latest");
    assert.equal(layerCacheName("123456789012.dkr.ecr.us-east-1.amazonaws.com/a/b/c@sha256:" + "0".repeat(64)), "localhost/imagespec-cache/a/b/c:latest");
  });

  it("buildah: several platforms make a manifest list, pushed with --all; insecure hosts get --tls-verify=false on the side they are on", () => {
    const calls = new BuildahBackend().invocations(
      request({ platforms: ["linux/amd64", "linux/arm64"], insecureHosts: new Set(["127.0.0.1:5000"]), pullHosts: ["127.0.0.1:5000"], targetHost: "registry.example.com" }),
    );
    assert.deepEqual(calls[0]!.argv, [
      "buildah",
      "build",
      "--isolation",
      "chroot",
      "--layers",
      "--force-rm",
      "--platform",
      "linux/amd64,linux/arm64",
      "--manifest",
      "localhost/imagespec-build:b1",
      "--tls-verify=false",
      "--file",
      "/ctx/Dockerfile",
      "/ctx",
    ]);
    // The target is not insecure: the push verifies TLS.
    assert.deepEqual(calls[1]!.argv, ["buildah", "manifest", "push", "--all", "localhost/imagespec-build:b1", `docker://${IMAGE}`]);
    assert.deepEqual(calls[2]!.argv, ["buildah", "manifest", "rm", "localhost/imagespec-build:b1"]);
    const push = new BuildahBackend().invocations(request({ insecureHosts: new Set(["registry.example.com"]) }))[1]!.argv;
    assert.deepEqual(push, ["buildah", "push", "--tls-verify=false", "localhost/imagespec-build:b1", `docker://${IMAGE}`]);
  });

  it("podman: its own storage and isolation unless configured; build then push; manifest push --all for several platforms", () => {
    const calls = new PodmanBackend().invocations(request({ platforms: ["linux/amd64", "linux/arm64"], insecureHosts: new Set(["registry.example.com"]) }));
    assert.deepEqual(
      calls.map((c) => c.argv),
      [
        ["podman", "build", "--layers", "--force-rm", "--platform", "linux/amd64,linux/arm64", "--manifest", "localhost/imagespec-build:b1", "--file", "/ctx/Dockerfile", "/ctx"],
        ["podman", "manifest", "push", "--all", "--tls-verify=false", "localhost/imagespec-build:b1", `docker://${IMAGE}`],
        ["podman", "manifest", "rm", "localhost/imagespec-build:b1"],
      ],
    );
    assert.deepEqual(calls[0]!.env, { REGISTRY_AUTH_FILE: "/tmp/auth/auth.json" });
    const configured = new PodmanBackend({ isolation: "chroot", storageDir: "/s" }).invocations(request())[0]!.argv;
    assert.deepEqual(configured.slice(0, 10), ["podman", "--root", "/s/root", "--runroot", "/s/runroot", "--storage-driver", "overlay", "build", "--isolation", "chroot"]);
  });

  it("docker buildx: every platform in one build, pushed, no provenance; an insecure target uses the image exporter's registry.insecure", () => {
    const calls = new DockerBackend().invocations(request({ platforms: ["linux/amd64", "linux/arm64"] }));
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.argv, [
      "docker",
      "buildx",
      "build",
      "--progress",
      "plain",
      "--platform",
      "linux/amd64,linux/arm64",
      "--provenance=false",
      "--file",
      "/ctx/Dockerfile",
      "--tag",
      IMAGE,
      "--push",
      "/ctx",
    ]);
    assert.deepEqual(calls[0]!.env, { DOCKER_CONFIG: "/tmp/auth" });
    const insecure = new DockerBackend({ builder: "fleet" }).invocations(request({ insecureHosts: new Set(["registry.example.com"]) }))[0]!.argv;
    assert.deepEqual(insecure.slice(3, 5), ["--builder", "fleet"]);
    assert.deepEqual(insecure.slice(-3), ["--output", `type=image,name=${IMAGE},push=true,registry.insecure=true`, "/ctx"]);
    assert.ok(!insecure.includes("--push"));
  });

  it("buildctl: the address, the dockerfile frontend with the context and Dockerfile as locals, platforms as an opt, an image output that pushes", () => {
    const calls = new BuildkitBackend({ address: "tcp://buildkit.example.com:1234" }).invocations(request({ platforms: ["linux/amd64", "linux/arm64"], insecureHosts: new Set(["registry.example.com"]) }));
    assert.deepEqual(calls[0]!.argv, [
      "buildctl",
      "--addr",
      "tcp://buildkit.example.com:1234",
      "build",
      "--progress",
      "plain",
      "--frontend",
      "dockerfile.v0",
      "--local",
      "context=/ctx",
      "--local",
      "dockerfile=/ctx",
      "--opt",
      "filename=Dockerfile",
      "--opt",
      "platform=linux/amd64,linux/arm64",
      "--output",
      `type=image,name=${IMAGE},push=true,registry.insecure=true`,
    ]);
    assert.deepEqual(calls[0]!.env, { DOCKER_CONFIG: "/tmp/auth" });
    // BUILDKIT_HOST is the address when none is given.
    const fromEnv = new BuildkitBackend({ env: { BUILDKIT_HOST: "unix:///run/buildkit/buildkitd.sock" } }).invocations(request())[0]!.argv;
    assert.deepEqual(fromEnv.slice(0, 3), ["buildctl", "--addr", "unix:///run/buildkit/buildkitd.sock"]);
  });
});

describe("detection, builds and credentials with tools on PATH", () => {
  let dir: string;
  let bin: string;
  let empty: string;
  let log: string;

  /** A tool script: logs its argv (and the auth file it was given) to `log`, then runs `body`. */
  async function tool(name: string, body: string): Promise<void> {
    const script = [
      "#!/bin/sh",
      `echo "${name} $*" >> ${log}`,
      `if [ -n "$REGISTRY_AUTH_FILE" ]; then echo "auth-file $(/bin/cat "$REGISTRY_AUTH_FILE")" >> ${log}; fi`,
      `if [ -n "$DOCKER_CONFIG" ]; then echo "docker-config $(/bin/cat "$DOCKER_CONFIG/config.json")" >> ${log}; fi`,
      body,
      "",
    ].join("\n");
    await writeFile(join(bin, name), script);
    await chmod(join(bin, name), 0o755);
  }

  const env = () => ({ PATH: bin });
  const logLines = async () => (await readFile(log, "utf8").catch(() => "")).trim().split("\n").filter(Boolean);

  before(async () => {
    dir = await tempDir();
    bin = join(dir, "bin");
    empty = join(dir, "empty");
    log = join(dir, "calls.log");
    await mkdir(bin);
    await mkdir(empty);
  });
  after(async () => {
    await removeDir(dir);
  });

  it("finds each tool missing on an empty PATH, with how to install it", async () => {
    for (const name of ["buildah", "podman", "docker", "buildkit"] as const) {
      const detection = await createBackend(name, { env: { PATH: empty }, buildkit: { address: "tcp://x:1" } }).detect();
      assert.equal(detection.ok, false, name);
      if (detection.ok) continue;
      assert.equal(detection.status, "missing");
      assert.match(detection.reason, /is not installed \(not on PATH\)/);
      assert.match(detection.install, /install/);
    }
  });

  it("runs the version command of a tool that is there, and reports one that fails as broken with its message", async () => {
    await writeFile(log, "");
    await tool("buildah", 'echo "buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)"');
    const found = await new BuildahBackend({ env: env() }).detect();
    assert.deepEqual(found, { ok: true, name: "buildah", version: "buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)", path: join(bin, "buildah") });
    assert.deepEqual(await logLines(), ["buildah --version"]);

    await tool("podman", 'echo "podman: error while loading shared libraries" >&2; exit 127');
    const broken = await new PodmanBackend({ env: env() }).detect();
    assert.equal(broken.ok, false);
    assert.ok(!broken.ok && broken.status === "broken");
    assert.match(!broken.ok ? broken.reason : "", /`podman --version` failed \(exit 127\): podman: error while loading shared libraries/);
  });

  it("docker counts only with buildx and a reachable builder; buildkit only with an address that answers", async () => {
    await writeFile(log, "");
    await tool("docker", ['if [ "$1 $2" = "buildx version" ]; then echo "github.com/docker/buildx v0.23.0"; exit 0; fi', 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1'].join("\n"));
    const docker = await new DockerBackend({ env: env() }).detect();
    assert.ok(!docker.ok && docker.status === "broken");
    assert.match(!docker.ok ? docker.reason : "", /the buildx builder is not reachable: Cannot connect to the Docker daemon/);
    assert.deepEqual(await logLines(), ["docker buildx version", "docker buildx inspect"]);

    await writeFile(log, "");
    await tool("buildctl", ['if [ "$1" = "--version" ]; then echo "buildctl github.com/moby/buildkit v0.21.0"; exit 0; fi', 'echo "ID  PLATFORMS"; echo "w1  linux/amd64"'].join("\n"));
    const noAddress = await new BuildkitBackend({ env: env() }).detect();
    assert.ok(!noAddress.ok && /no BuildKit daemon address/.test(noAddress.reason));
    const withAddress = await new BuildkitBackend({ env: env(), address: "tcp://bk:1234" }).detect();
    assert.deepEqual(withAddress, { ok: true, name: "buildkit", version: "buildctl github.com/moby/buildkit v0.21.0", path: join(bin, "buildctl") });
    assert.deepEqual(await logLines(), ["buildctl --version", "buildctl --version", "buildctl --addr tcp://bk:1234 debug workers"]);
  });

  it("a failing build reports its last lines and exit code, streams every line, and still removes the local image", async () => {
    await writeFile(log, "");
    await tool(
      "buildah",
      ['case "$*" in', '  *" build "*|build*) i=0; while [ $i -lt 40 ]; do echo "line $i"; i=$((i+1)); done; echo "E: Unable to locate package nosuch" >&2; exit 100;;', "esac", "exit 0"].join("\n"),
    );
    const lines: string[] = [];
    const backend = new BuildahBackend({ env: env(), storageDir: join(dir, "storage") });
    await assert.rejects(
      backend.build(request({ context: { dir, dockerfile: join(dir, "Dockerfile"), remove: async () => undefined }, authDir: undefined }), { onLine: ({ line }, step) => lines.push(`${step}: ${line}`) }),
      (e: Error & { code?: string; exitCode?: number; tail?: string[] }) => {
        assert.equal(e.code, "BUILDER_FAILED");
        assert.equal(e.exitCode, 100);
        assert.match(e.message, /^buildah build exited with code 100; last lines:\n/);
        assert.match(e.message, /E: Unable to locate package nosuch/);
        assert.equal(e.tail?.length, 25);
        assert.ok(!e.message.includes("line 15\n"), "only the last lines");
        return true;
      },
    );
    assert.equal(lines.length, 41);
    assert.equal(lines[0], "build: line 0");
    const calls = await logLines();
    assert.equal(calls.length, 2, "build, then the clean-up; no push, no layer cache name for a failed build");
    assert.match(calls[1]!, / rmi localhost\/imagespec-build:b1$/);
    assert.ok((await stat(join(dir, "storage", "tmp"))).isDirectory(), "buildah's temp dir is made inside the storage dir");
  });

  it("credentials reach the tool only through the temp auth file (0600 in a 0700 dir), never argv; the dir is removed afterwards", async () => {
    await writeFile(log, "");
    await tool("buildah", "exit 0");
    await tool("docker", "exit 0");
    const secret = "s3cr3t-password";
    const auth = await writeAuthDir(["registry.example.com", "docker.io", "anonymous.example.com"], async (host) =>
      host === "registry.example.com" ? Credential.basic("ci", secret) : host === "docker.io" ? Credential.identityToken("refresh-token") : undefined,
      { parent: dir, env: { HOME: join(dir, "home") } },
    );
    try {
      assert.deepEqual(auth.hosts, ["docker.io", "registry.example.com"]);
      assert.equal((await stat(auth.dir)).mode & 0o777, 0o700);
      assert.equal((await stat(join(auth.dir, "auth.json"))).mode & 0o777, 0o600);
      assert.equal((await stat(join(auth.dir, "config.json"))).mode & 0o777, 0o600);
      const containers = JSON.parse(await readFile(join(auth.dir, "auth.json"), "utf8")) as { auths: Record<string, Record<string, string>> };
      assert.deepEqual(containers.auths, {
        "docker.io": { identitytoken: "refresh-token" },
        "registry.example.com": { auth: Buffer.from(`ci:${secret}`).toString("base64") },
      });
      const docker = JSON.parse(await readFile(join(auth.dir, "config.json"), "utf8")) as { auths: Record<string, unknown> };
      assert.deepEqual(Object.keys(docker.auths).sort(), ["https://index.docker.io/v1/", "registry.example.com"]);

      const req = request({ context: { dir, dockerfile: join(dir, "Dockerfile"), remove: async () => undefined }, authDir: auth.dir });
      await new BuildahBackend({ env: env() }).build(req);
      await new DockerBackend({ env: env() }).build(req);
      const calls = await logLines();
      const argvLines = calls.filter((l) => /^(buildah|docker) /.test(l));
      assert.equal(argvLines.length, 5, "buildah build, push, tag, rmi; docker buildx build");
      for (const line of argvLines) assert.ok(!line.includes(secret) && !line.includes(Buffer.from(`ci:${secret}`).toString("base64")), line);
      const encoded = Buffer.from(`ci:${secret}`).toString("base64");
      assert.equal(calls.filter((l) => l.startsWith("auth-file ") && l.includes(encoded)).length, 4, "every buildah step had the auth file");
      assert.equal(calls.filter((l) => l.startsWith("docker-config ") && l.includes(encoded)).length, 1, "docker had the config dir");
    } finally {
      await auth.remove();
    }
    await assert.rejects(stat(auth.dir), /ENOENT/);
  });

  it("the real buildah on this machine is detected by its version command", async () => {
    const detection = await new BuildahBackend().detect();
    assert.ok(detection.ok, JSON.stringify(detection));
    assert.match(detection.version, /^buildah version \d+\.\d+/);
  });

  describe("selection", () => {
    const specWith = (fields: Partial<ImageSpecInput>) => new ImageSpec({ name: "app", registry: "registry.example.com/team", baseImage: "registry.example.com/base:1", ...fields });
    const detected = (tried: Detection[]) => tried.map((d) => `${d.name}:${d.ok ? "ok" : d.status}`);

    it("auto: native when nothing blocks it, without looking for any tool", async () => {
      await writeFile(log, "");
      await tool("buildah", 'echo "buildah version 1.28.2"');
      const selection = await selectBuilder(await planBuild(specWith({}), { preview: false }), { backends: { env: env() } });
      assert.deepEqual(selection, { kind: "native", reason: "the native builder can build every field of the spec" });
      assert.deepEqual(await logLines(), [], "no tool was run");
    });

    it("auto: the first Dockerfile builder that works, saying why and what it skipped", async () => {
      await tool("docker", 'echo "docker: unknown command: docker buildx" >&2; exit 1');
      await tool("podman", "exit 0");
      await writeFile(join(bin, "podman"), '#!/bin/sh\necho "podman version 4.3.1"\n');
      const plan = await planBuild(specWith({ commands: ["make"] }), { preview: false });
      const selection = await selectBuilder(plan, { backends: { env: env() } });
      assert.equal(selection.kind, "dockerfile");
      if (selection.kind !== "dockerfile") return;
      assert.equal(selection.backend.name, "podman");
      assert.deepEqual(detected(selection.tried), ["docker:broken", "podman:ok"]);
      assert.match(selection.reason, /^commands need a Dockerfile builder; podman \(podman version 4\.3\.1\) is installed and works \(skipped docker: `docker buildx version` failed \(exit 1\): docker: unknown command: docker buildx\)$/);
    });

    it("auto with nothing usable: NO_DOCKERFILE_BUILDER listing every builder and how to install one", async () => {
      const plan = await planBuild(specWith({ condaPackages: ["numpy"] }), { preview: false });
      await assert.rejects(selectBuilder(plan, { backends: { env: { PATH: empty } } }), (e: Error & { code?: string; hint?: string }) => {
        assert.equal(e.code, "NO_DOCKERFILE_BUILDER");
        assert.match(e.message, /needs a Dockerfile builder for condaPackages, and none works here:\n {2}docker: docker is not installed \(not on PATH\)\n {2}podman: podman is not installed \(not on PATH\)\n {2}buildah: buildah is not installed \(not on PATH\)\n {2}buildkit: buildctl is not installed \(not on PATH\)$/);
        assert.match(e.hint ?? "", /apt-get install buildah/);
        return true;
      });
    });

    it("a named builder is used even when native could build, and must work", async () => {
      await tool("buildah", 'echo "buildah version 1.28.2"');
      const plan = await planBuild(specWith({ builder: "buildah" }), { preview: false });
      const chosen = await selectBuilder(plan, { backends: { env: env() } });
      assert.equal(chosen.kind === "dockerfile" && chosen.backend.name, "buildah");
      await assert.rejects(selectBuilder(plan, { builder: "buildkit", backends: { env: { PATH: empty } } }), (e: Error & { code?: string }) => {
        assert.equal(e.code, "BUILDER_UNAVAILABLE");
        assert.match(e.message, /builder buildkit was asked for, but buildctl is not installed/);
        return true;
      });
      assert.deepEqual(await selectBuilder(plan, { builder: "native" }), { kind: "native", reason: "builder: native was asked for" });
    });
  });
});
