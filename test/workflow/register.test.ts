// Registration against real servers: a docker-registry on 127.0.0.1 holding the images, and the
// gRPC AdminService test server (test/support/flyteadmin.ts) built from flyteidl's admin.proto,
// which decodes what it receives with @flyteorg/flyteidl. Images are built natively onto a busybox
// base, through ImageBuilder, so the existence rules under test are the product's.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ImageBuilder, buildImage } from "../../src/build/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { AdminClient, collectEntities, containerTask, flyteidl, pythonTask, registerEntities, t, workflow, launchPlan, type Entities } from "../../src/workflow/index.js";
import type { FlyteIdl } from "../../src/workflow/idl.js";
import { startFakeAdmin, type FakeAdmin } from "../support/flyteadmin.js";
import { freePort, startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, removeDir, tempDir } from "../support/tools.js";
import { registryFor } from "../registry/util.js";


describe("registering with FlyteAdmin", () => {
  let reg: TestRegistry;
  let registry: Registry;
  let work: string;
  let cache: string;
  let admin: FakeAdmin;
  const base = () => `${reg.host}/base/busybox:1`;

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir();
    cache = `${work}/cache`;
    const image = await makeTestImage({ env: ["PATH=/bin"] });
    await registry.copy(image.ref, base());
    await image.cleanup();
    admin = await startFakeAdmin();
  });
  after(async () => {
    await admin.stop();
    await registry.close();
    await reg.stop();
    await removeDir(work);
  });

  const spec = (name: string, env: Record<string, string> = {}) => new ImageSpec({ name, registry: `${reg.host}/team`, baseImage: base(), env }, { baseDir: work });

  function declare(suffix: string, options: { retries?: number; image?: string } = {}): Entities {
    const produce = containerTask({
      name: `produce-${suffix}`,
      image: spec(`producer-${suffix}`),
      command: ["sh", "-c", "echo 42 > /var/flyte/outputs/n"],
      inputs: { seed: t.integer },
      outputs: { n: t.integer },
      resources: { requests: { cpu: "250m", memory: "64Mi" } },
      retries: options.retries ?? 0,
    });
    const consume = pythonTask({
      module: "app.consume",
      function: `run_${suffix}`,
      image: spec(`consumer-${suffix}`, { ROLE: "consumer" }),
      inputs: { n: t.integer },
      outputs: { o0: t.string },
    });
    const tool = containerTask({ name: `tool-${suffix}`, image: options.image ?? base(), command: ["true"], inputs: { text: t.string } });
    const wf = workflow({ name: `join-${suffix}`, inputs: { seed: { type: t.integer, default: 7 } }, outputs: { text: t.string } }, (i) => {
      const a = produce({ seed: i.seed });
      const b = consume({ n: a.n });
      tool({ text: b.o0 });
      return { text: b.o0 };
    });
    const lp = launchPlan(wf, { name: `join-${suffix}-hourly`, schedule: { cron: "@hourly" } });
    return collectEntities([wf, lp]);
  }

  async function register(entities: Entities, client: AdminClient, extra: Partial<Parameters<typeof registerEntities>[1]> = {}) {
    const builder = new ImageBuilder({ registry, cacheDir: cache });
    try {
      return await registerEntities(entities, { project: "flytesnacks", domain: "development", builder, registry, admin: client, ...extra });
    } finally {
      await builder.close();
    }
  }

  void it("builds a missing image, skips an existing one, checks a referenced one, then registers tasks, workflow and launch plans", async () => {
    const entities = declare("a");
    // The consumer image exists before registration: it must be skipped, not rebuilt.
    const prebuilt = await buildImage(spec("consumer-a", { ROLE: "consumer" }), { registry, cacheDir: cache });
    assert.equal(prebuilt.status, "built");
    const client = await AdminClient.connect({ endpoint: admin.endpoint, insecure: true });
    try {
      const result = await register(entities, client);
      const images = Object.fromEntries(result.images.map((i) => [i.image.split("/").at(-1)!.split(":")[0], i]));
      assert.equal(images["producer-a"]!.status, "built");
      assert.equal(images["consumer-a"]!.status, "exists");
      assert.equal(images["consumer-a"]!.digest, prebuilt.digest);
      assert.equal(images.busybox!.status, "present");
      assert.match(result.version, /^[0-9a-f]{20}$/);
      assert.deepEqual(
        result.entities.map((e) => `${e.kind} ${e.name} ${e.status}`),
        ["task app.consume.run_a created", "task produce-a created", "task tool-a created", "workflow join-a created", "launchplan join-a created", "launchplan join-a-hourly created"],
      );
      // Tasks arrive before the workflow, the workflow before its launch plans.
      const kinds = admin.received.map((r) => r.kind);
      assert.ok(kinds.lastIndexOf("task") < kinds.indexOf("workflow") && kinds.lastIndexOf("workflow") < kinds.indexOf("launchplan"), kinds.join(","));

      const tasks = admin.decodedTasks().map((s) => s.template!);
      const byName: Record<string, FlyteIdl.core.ITaskTemplate> = Object.fromEntries(tasks.map((x) => [x.id!.name!, x]));
      const produce = byName["produce-a"]!;
      assert.equal(produce.id!.project, "flytesnacks");
      assert.equal(produce.id!.domain, "development");
      assert.equal(produce.id!.version, result.version);
      assert.equal(produce.container!.image, images["producer-a"]!.image);
      assert.match(produce.container!.image!, new RegExp(`^${reg.host}/team/producer-a:[a-z2-7]{26}$`));
      assert.deepEqual(produce.container!.resources!.requests!.map((r) => r.value), ["250m", "64Mi"]);
      assert.equal(produce.interface!.outputs!.variables!.n!.type!.simple, flyteidl.core.SimpleType.INTEGER);
      const consume = byName["app.consume.run_a"]!;
      assert.equal(consume.container!.image, images["consumer-a"]!.image);
      assert.deepEqual(consume.container!.args!.slice(-4), ["task-module", "app.consume", "task-name", "run_a"]);
      assert.equal(byName["tool-a"]!.container!.image, base());
    } finally {
      client.close();
    }
  });

  void it("registering the same content again builds nothing and creates nothing", async () => {
    const client = await AdminClient.connect({ endpoint: admin.endpoint, insecure: true });
    try {
      const before = admin.stored.size;
      const first = admin.received.length;
      const result = await register(declare("a"), client);
      assert.deepEqual([...new Set(result.images.map((i) => i.status))].sort(), ["exists", "present"]);
      assert.ok(result.entities.every((e) => e.status === "exists"), JSON.stringify(result.entities));
      assert.equal(admin.stored.size, before);
      assert.ok(admin.received.slice(first).every((r) => r.outcome === "exists"));
    } finally {
      client.close();
    }
  });

  void it("--activate-schedules makes the scheduled launch plans active, and only those", async () => {
    const client = await AdminClient.connect({ endpoint: admin.endpoint, insecure: true });
    try {
      const result = await register(declare("s"), client, { activateSchedules: true });
      assert.deepEqual(result.entities.filter((e) => e.status === "activated").map((e) => e.name), ["join-s-hourly"]);
      assert.deepEqual(admin.activated, [`flytesnacks/development/join-s-hourly@${result.version}`]);
    } finally {
      client.close();
    }
  });

  void it("a version registered with other content is a clear error", async () => {
    const client = await AdminClient.connect({ endpoint: admin.endpoint, insecure: true });
    try {
      await register(declare("c"), client, { version: "v1" });
      await assert.rejects(register(declare("c", { retries: 3 }), client, { version: "v1" }), (e: Error & { code: string; hint: string }) => {
        assert.equal(e.code, "FLYTE_CONFLICT");
        assert.match(e.message, /task "produce-c" version v1 is already registered in flytesnacks\/development with different content/);
        assert.match(e.hint, /leave out --version/);
        return true;
      });
      // With the default version the changed content gets its own version and registers.
      const result = await register(declare("c", { retries: 3 }), client);
      assert.ok(result.entities.some((e) => e.status === "created"));
    } finally {
      client.close();
    }
  });

  void it("FlyteAdmin's own refusals (a limit above its default platform limit of 1Gi memory) are reported and stop what depends on them", async () => {
    const client = await AdminClient.connect({ endpoint: admin.endpoint, insecure: true });
    try {
      const big = containerTask({ name: "big-memory", image: base(), command: ["true"], resources: { requests: { memory: "2Gi" }, limits: { memory: "4Gi" } } });
      const wf = workflow({ name: "big-wf" }, () => void big());
      const first = admin.received.length;
      await assert.rejects(register(collectEntities([wf]), client, { version: "v1" }), (e: Error & { code: string }) => {
        assert.match(e.message, /Requested memory limit is greater than current limit set in the platform configuration \[1Gi\]/);
        return true;
      });
      assert.deepEqual(admin.received.slice(first).map((r) => [r.kind, r.outcome]), [["task", "invalid"]], "the workflow is not sent after its task was refused");
    } finally {
      client.close();
    }
  });

  void it("the test FlyteAdmin refuses what FlyteAdmin refuses: GPU rules, reserved node ids, unknown references", async () => {
    // Messages written by hand, past imagespec's own checks, straight to the server.
    const client = await AdminClient.connect({ endpoint: admin.endpoint, insecure: true });
    const R = flyteidl.core.Resources.ResourceName;
    const id = (resourceType: number, name: string) => ({ resourceType, project: "raw", domain: "development", name, version: "v1" });
    const RT = flyteidl.core.ResourceType;
    const task = (name: string, requests: { name: number; value: string }[], limits: { name: number; value: string }[]) => ({
      id: id(RT.TASK, name),
      spec: { template: { id: id(RT.TASK, name), type: "raw-container", metadata: {}, interface: {}, container: { image: "r.io/x:1", resources: { requests, limits } } } },
    });
    const refused = async (call: Promise<unknown>, pattern: RegExp) =>
      assert.rejects(call, (e: Error & { code: string }) => {
        assert.equal(e.code, "FLYTE_ADMIN_ERROR");
        assert.match(e.message, pattern);
        return true;
      });
    try {
      await refused(client.createTask(task("half-gpu", [{ name: R.GPU, value: "500m" }], [])), /INVALID_ARGUMENT: gpu for \[half-gpu\] must be a whole number, got: 500m/);
      await refused(client.createTask(task("gpu-mismatch", [{ name: R.GPU, value: "1" }], [{ name: R.GPU, value: "2" }])), /the default value must equal the limit value/);
      await refused(client.createTask(task("cpu-over", [{ name: R.CPU, value: "2" }], [{ name: R.CPU, value: "1" }])), /Requested cpu default is greater than the limit/);
      await refused(client.createTask(task("too-much", [{ name: R.CPU, value: "3" }], [])), /platform configuration \[2\]/);
      assert.equal(await client.createTask(task("fits", [{ name: R.CPU, value: "1500m" }, { name: R.MEMORY, value: "1Gi" }], [{ name: R.CPU, value: "2" }])), "created");
      const wf = (name: string, node: object) => ({ id: id(RT.WORKFLOW, name), spec: { template: { id: id(RT.WORKFLOW, name), nodes: [node] } } });
      await refused(client.createWorkflow(wf("reserved", { id: "end-node", taskNode: { referenceId: id(RT.TASK, "fits") } })), /node id end-node is reserved/);
      await refused(client.createWorkflow(wf("unknown-task", { id: "n0", taskNode: { referenceId: id(RT.TASK, "nope") } })), /missing entity of type TASK/);
      await refused(client.createWorkflow(wf("unknown-plan", { id: "n0", workflowNode: { launchplanRef: id(RT.LAUNCH_PLAN, "nope") } })), /missing entity of type LAUNCH_PLAN/);
      await refused(client.createWorkflow(wf("unknown-sub", { id: "n0", workflowNode: { subWorkflowRef: id(RT.WORKFLOW, "nope") } })), /not in sub_workflows/);
      await refused(client.createLaunchPlan({ id: id(RT.LAUNCH_PLAN, "orphan"), spec: { workflowId: id(RT.WORKFLOW, "nope") } }), /missing entity of type WORKFLOW/);
      assert.equal(await client.createWorkflow(wf("ok", { id: "n0", taskNode: { referenceId: id(RT.TASK, "fits") } })), "created");
    } finally {
      client.close();
    }
  });

  void it("an image that is not in the registry stops registration before anything is sent", async () => {
    const client = await AdminClient.connect({ endpoint: admin.endpoint, insecure: true });
    try {
      const first = admin.received.length;
      await assert.rejects(register(declare("d", { image: `${reg.host}/nowhere/missing:1` }), client), (e: Error & { code: string; hint: string }) => {
        assert.equal(e.code, "WORKFLOW_IMAGE_MISSING");
        assert.equal(e.message, `${reg.host}/nowhere/missing:1 (image of task "tool-d") is not in its registry`);
        assert.match(e.hint, /push the image first/);
        return true;
      });
      assert.equal(admin.received.length, first, "nothing registered");
    } finally {
      client.close();
    }
  });

  void it("an unknown registry answer is not read as present", async () => {
    const client = await AdminClient.connect({ endpoint: admin.endpoint, insecure: true });
    try {
      const first = admin.received.length;
      const port = await freePort();
      await assert.rejects(register(declare("e", { image: `127.0.0.1:${port}/x/y:1` }), client), (e: Error & { code: string }) => {
        assert.equal(e.code, "WORKFLOW_IMAGE_UNVERIFIED");
        assert.match(e.message, new RegExp(`cannot verify that 127.0.0.1:${port}/x/y:1 \\(image of task "tool-e"\\) is in its registry`));
        return true;
      });
      assert.equal(admin.received.length, first);
    } finally {
      client.close();
    }
  });

  void it("a dry run checks existence, builds nothing and registers nothing", async () => {
    const first = admin.received.length;
    const builder = new ImageBuilder({ registry, cacheDir: cache });
    try {
      const result = await registerEntities(declare("f"), { project: "p", domain: "d", builder, registry, dryRun: true });
      assert.deepEqual(result.images.map((i) => i.status).sort(), ["present", "would-build", "would-build"]);
      assert.ok(result.entities.every((e) => e.status === "would-register"));
      assert.equal((await registry.exists(result.images.find((i) => i.status === "would-build")!.image)).present, false);
    } finally {
      await builder.close();
    }
    assert.equal(admin.received.length, first);
  });

  void it("image names remember the digests of big files where `hashing` says (a dry run, a 5 MiB file in the spec's source folder)", async () => {
    const project = join(work, "big-source");
    await mkdir(join(project, "src"), { recursive: true });
    const model = join(project, "src", "model.bin");
    const bytes = randomBytes(5 << 20);
    await writeFile(model, bytes);
    const bigSpec = new ImageSpec({ name: "big-source", registry: `${reg.host}/team`, baseImage: base(), sourceRoot: "src" }, { baseDir: project });
    const task = containerTask({ name: "uses-model", image: bigSpec, command: ["true"], inputs: {}, outputs: {} });
    const rememberIn = join(project, "digests");
    const builder = new ImageBuilder({ registry, cacheDir: cache });
    try {
      const result = await registerEntities(collectEntities([task]), { project: "p", domain: "d", builder, registry, dryRun: true, hashing: { rememberIn, settleMs: 0 } });
      assert.deepEqual(result.images.map((i) => i.status), ["would-build"]);
    } finally {
      await builder.close();
    }
    const [record] = await readdir(rememberIn);
    const saved = JSON.parse(await readFile(join(rememberIn, record!), "utf8")) as { path: string; digest: string };
    assert.equal(saved.path, model);
    assert.equal(saved.digest, `sha256:${createHash("sha256").update(bytes).digest("hex")}`);
  });

  void it("an unreachable control plane is a clear error", async () => {
    const port = await freePort();
    const client = await AdminClient.connect({ endpoint: `127.0.0.1:${port}`, insecure: true, timeoutMs: 5000 });
    try {
      await assert.rejects(client.ready(), (e: Error & { code: string; hint: string }) => {
        assert.equal(e.code, "FLYTE_UNREACHABLE");
        assert.match(e.message, new RegExp(`cannot reach FlyteAdmin at 127.0.0.1:${port}`));
        return true;
      });
      await assert.rejects(client.createTask({ id: { resourceType: 1, project: "p", domain: "d", name: "x", version: "1" }, spec: {} }), (e: Error & { code: string }) => e.code === "FLYTE_UNREACHABLE");
    } finally {
      client.close();
    }
  });

  void it("sends an API key in the configured header; without it FlyteAdmin's refusal is explained", async () => {
    const secured = await startFakeAdmin({ requireHeader: { name: "x-api-key", value: "k-123456" } });
    const good = await AdminClient.connect({ endpoint: secured.endpoint, insecure: true, auth: { kind: "apiKey", key: "k-123456", header: "x-api-key" } });
    const bad = await AdminClient.connect({ endpoint: secured.endpoint, insecure: true });
    try {
      const id = { resourceType: 1, project: "p", domain: "d", name: "k", version: "1" };
      assert.equal(await good.createTask({ id, spec: { template: { id } } }), "created");
      await assert.rejects(bad.createTask({ id: { ...id, name: "k2" }, spec: { template: { id } } }), (e: Error & { code: string; hint: string }) => {
        assert.equal(e.code, "FLYTE_UNAUTHENTICATED");
        assert.match(e.hint, /--client-id|--api-key-env/);
        return true;
      });
    } finally {
      good.close();
      bad.close();
      await secured.stop();
    }
  });

  void it("OAuth2 client credentials: the token endpoint is discovered from FlyteAdmin and the token sent; a wrong secret never shows in the error", async () => {
    const secured = await startFakeAdmin({ oauth: { clientId: "imagespec", clientSecret: "s3cr3t-value", token: "tok-abc" } });
    const good = await AdminClient.connect({ endpoint: secured.endpoint, insecure: true, auth: { kind: "clientCredentials", clientId: "imagespec", clientSecret: "s3cr3t-value", scopes: ["all"] } });
    const wrong = await AdminClient.connect({ endpoint: secured.endpoint, insecure: true, auth: { kind: "clientCredentials", clientId: "imagespec", clientSecret: "wrong-secret-zz", tokenUrl: secured.tokenUrl! } });
    try {
      const id = { resourceType: 1, project: "p", domain: "d", name: "o", version: "1" };
      assert.equal(await good.createTask({ id, spec: { template: { id } } }), "created");
      assert.equal(await good.createTask({ id: { ...id, name: "o2" }, spec: { template: { id } } }), "created");
      assert.deepEqual(secured.tokenRequests.map((r) => [r.grantType, r.clientId, r.ok, r.scope]), [["client_credentials", "imagespec", true, "all"]], "one token, reused");
      await assert.rejects(wrong.createTask({ id: { ...id, name: "o3" }, spec: {} }), (e: Error & { code: string }) => {
        assert.equal(e.code, "FLYTE_AUTH_FAILED");
        assert.match(e.message, /refused the client credentials of client "imagespec" \(invalid_client\)/);
        assert.ok(!e.message.includes("wrong-secret-zz"));
        return true;
      });
    } finally {
      good.close();
      wrong.close();
      await secured.stop();
    }
  });

  void it("TLS: trusted with --admin-ca-file's CA, refused without it", async () => {
    const tls = await startFakeAdmin({ tls: true });
    const trusted = await AdminClient.connect({ endpoint: tls.endpoint, caFile: tls.caFile! });
    const untrusted = await AdminClient.connect({ endpoint: tls.endpoint, timeoutMs: 5000 });
    try {
      await trusted.ready();
      const id = { resourceType: 1, project: "p", domain: "d", name: "tls", version: "1" };
      assert.equal(await trusted.createTask({ id, spec: { template: { id } } }), "created");
      await assert.rejects(untrusted.ready(), (e: Error & { code: string }) => e.code === "FLYTE_UNREACHABLE");
    } finally {
      trusted.close();
      untrusted.close();
      await tls.stop();
    }
  });
});
