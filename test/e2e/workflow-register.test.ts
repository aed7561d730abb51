// `imagespec register` and `imagespec package` end to end, as a user runs them: the real CLI as a
// child process, a TypeScript workflow file with two tasks on two ImageSpecs and a workflow joining
// them, a docker-registry on 127.0.0.1 with a busybox base, and the gRPC AdminService test server.
// The first run builds the missing image natively, skips the one that exists, and registers; the
// second builds nothing and registers nothing new.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildImage } from "../../src/build/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { flyteidl } from "../../src/workflow/index.js";
import type { FlyteIdl } from "../../src/workflow/idl.js";
import { imagespecCli, ROOT } from "../support/cli.js";
import { startFakeAdmin, type FakeAdmin } from "../support/flyteadmin.js";
import { decodePackageEntry } from "../support/flyteidl-reflection.js";
import { freePort, startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, readTgz, removeDir, run, tempDir } from "../support/tools.js";
import { VERSION } from "../../src/version.js";
import { registryFor } from "../registry/util.js";

const INDEX = JSON.stringify(join(ROOT, "src", "index.ts"));

function workflowFile(registry: string, base: string, extra = ""): string {
  return `import { ImageSpec, containerTask, pythonTask, workflow, launchPlan, t } from ${INDEX};

export const producerImage = new ImageSpec({ name: "producer", registry: ${JSON.stringify(registry)}, baseImage: ${JSON.stringify(base)}, env: { ROLE: "producer" } });
export const consumerImage = new ImageSpec({ name: "consumer", registry: ${JSON.stringify(registry)}, baseImage: ${JSON.stringify(base)}, env: { ROLE: "consumer" } });

export const produce = containerTask({
  name: "produce",
  image: producerImage,
  command: ["sh", "-c", "echo $(( {{.inputs.seed}} * 2 )) > /var/flyte/outputs/n"],
  inputs: { seed: t.integer },
  outputs: { n: t.integer },
  resources: { requests: { cpu: "250m", memory: "128Mi" }, limits: { memory: "256Mi" } },
  retries: 1,
});

export const consume = pythonTask({
  module: "app.steps",
  function: "consume",
  image: consumerImage,
  inputs: { n: t.integer },
  outputs: { o0: t.string },
  env: { LOG_LEVEL: "info" },
  timeout: "10m",
});

export const pipeline = workflow({ name: "pipeline", inputs: { seed: { type: t.integer, default: 21 } }, outputs: { text: t.string } }, (inputs) => {
  const p = produce({ seed: inputs.seed });
  const c = consume({ n: p.n });
  return { text: c.o0 };
});

export const daily = launchPlan(pipeline, { name: "pipeline-daily", fixedInputs: { seed: 5 }, schedule: { cron: "0 6 * * *" } });
${extra}`;
}



describe("imagespec register / package (e2e)", () => {
  let reg: TestRegistry;
  let registry: Registry;
  let admin: FakeAdmin;
  let dir: string;
  let file: string;
  const base = () => `${reg.host}/base/busybox:1`;
  const cli = (args: string[]) => imagespecCli(args, { cwd: dir, timeoutMs: 120_000 });

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    const image = await makeTestImage({ env: ["PATH=/bin"] });
    await registry.copy(image.ref, base());
    await image.cleanup();
    admin = await startFakeAdmin();
    dir = await tempDir();
    file = join(dir, "workflows.ts");
    await writeFile(file, workflowFile(`${reg.host}/team`, base()));
  });
  after(async () => {
    await admin.stop();
    await registry.close();
    await reg.stop();
    await removeDir(dir);
  });

  const registerArgs = (extra: string[] = []) => ["register", "workflows.ts", "--project", "flytesnacks", "--domain", "development", "--endpoint", admin.endpoint, "--insecure", "--cache-dir", join(dir, "cache"), ...extra];

  it("--dry-run shows what would be built and registered, and changes nothing", async () => {
    const r = await cli(registerArgs(["--dry-run"]));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^image ${reg.host}/team/producer:[a-z2-7]{26} would-build$`, "m"));
    assert.match(r.stdout, new RegExp(`^image ${reg.host}/team/consumer:[a-z2-7]{26} would-build$`, "m"));
    assert.match(r.stdout, /^task produce [0-9a-f]{20} would-register$/m);
    assert.match(r.stdout, /^launchplan pipeline-daily [0-9a-f]{20} would-register$/m);
    assert.match(r.stderr, /dry run: would register 5 entities as version [0-9a-f]{20} in flytesnacks\/development/);
    assert.equal(admin.received.length, 0);
  });

  it("builds the missing image natively, skips the existing one, registers; a second run builds and registers nothing new", async () => {
    // The consumer image is already in the registry (built from the same spec in the same file).
    const consumer = new ImageSpec({ name: "consumer", registry: `${reg.host}/team`, baseImage: base(), env: { ROLE: "consumer" } }, { baseDir: dir });
    const prebuilt = await buildImage(consumer, { registry, cacheDir: join(dir, "cache") });
    assert.equal(prebuilt.status, "built");

    const first = await cli(registerArgs());
    assert.equal(first.code, 0, first.stderr);
    const producerLine = new RegExp(`^image (${reg.host}/team/producer:[a-z2-7]{26})@(sha256:[0-9a-f]{64}) built$`, "m").exec(first.stdout);
    assert.ok(producerLine, first.stdout);
    assert.match(first.stdout, new RegExp(`^image ${prebuilt.image.replace(/[.]/g, "\\.")}@${prebuilt.digest} exists$`, "m"));
    assert.match(first.stderr, /producer:[a-z2-7]{26}: builder native/);
    assert.match(first.stderr, /producer:[a-z2-7]{26}: done sha256:/);
    assert.match(first.stderr, /consumer:[a-z2-7]{26}: exists \(sha256:[0-9a-f]{64}\), nothing to build/);
    const version = /^task produce ([0-9a-f]{20}) created$/m.exec(first.stdout)?.[1];
    assert.ok(version, first.stdout);
    for (const line of ["task app.steps.consume", "workflow pipeline", "launchplan pipeline", "launchplan pipeline-daily"]) assert.match(first.stdout, new RegExp(`^${line} ${version} created$`, "m"));
    assert.match(first.stderr, new RegExp(`registered 5 new of 5 entities as version ${version} in flytesnacks/development`));
    assert.equal((await registry.exists(producerLine[1]!)).present, true);

    // What FlyteAdmin received, decoded with flyteidl.
    const tasks: Record<string, FlyteIdl.core.ITaskTemplate> = Object.fromEntries(admin.decodedTasks().map((s) => [s.template!.id!.name!, s.template!]));
    assert.equal(tasks.produce!.container!.image, producerLine[1]);
    assert.equal(tasks.produce!.type, "raw-container");
    assert.deepEqual(tasks.produce!.container!.resources!.limits!.map((x) => [x.name, x.value]), [[flyteidl.core.Resources.ResourceName.MEMORY, "256Mi"]]);
    assert.equal(tasks.produce!.metadata!.retries!.retries, 1);
    assert.equal(tasks["app.steps.consume"]!.container!.image, prebuilt.image);
    assert.deepEqual(tasks["app.steps.consume"]!.container!.args!.slice(0, 3), ["pyflyte-execute", "--inputs", "{{.input}}"]);
    assert.equal(Number(tasks["app.steps.consume"]!.metadata!.timeout!.seconds), 600);
    assert.equal(tasks["app.steps.consume"]!.interface!.outputs!.variables!.o0!.type!.simple, flyteidl.core.SimpleType.STRING);
    const wfKey = [...admin.stored.keys()].find((k) => k.startsWith("workflow "))!;
    const wf = flyteidl.admin.WorkflowSpec.decode(admin.stored.get(wfKey)!).template!;
    assert.equal(wfKey, `workflow flytesnacks/development/pipeline@${version}`);
    assert.deepEqual(wf.nodes!.map((n) => n.taskNode!.referenceId!.name), ["produce", "app.steps.consume"]);
    const lp = flyteidl.admin.LaunchPlanSpec.decode(admin.stored.get(`launchplan flytesnacks/development/pipeline-daily@${version}`)!);
    assert.equal(lp.entityMetadata!.schedule!.cronSchedule!.schedule, "0 6 * * *");
    assert.equal(Number(lp.fixedInputs!.literals!.seed!.scalar!.primitive!.integer), 5);

    const stored = admin.stored.size;
    const received = admin.received.length;
    const second = await cli(registerArgs());
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, new RegExp(`^image ${producerLine[1]!.replace(/[.]/g, "\\.")}@${producerLine[2]} exists$`, "m"));
    assert.doesNotMatch(second.stdout, / built$/m);
    assert.equal(second.stderr.match(/: exists \(sha256:[0-9a-f]{64}\), nothing to build$/gm)?.length, 2, second.stderr);
    assert.doesNotMatch(second.stderr, /: (layer|done) /);
    assert.doesNotMatch(second.stdout, / created$/m);
    assert.match(second.stderr, new RegExp(`registered 0 new of 5 entities as version ${version} `));
    assert.equal(admin.stored.size, stored, "nothing new registered");
    assert.ok(admin.received.slice(received).every((r) => r.outcome === "exists"));
  });

  it("--version names every entity's version; --json prints the result as one object", async () => {
    const r = await cli(registerArgs(["--version", "manual-1", "--json"]));
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { version: string; images: { status: string }[]; entities: { kind: string; name: string; status: string }[] };
    assert.equal(result.version, "manual-1");
    assert.deepEqual(result.images.map((i) => i.status), ["exists", "exists"]);
    assert.deepEqual(result.entities.map((e) => `${e.kind} ${e.name} ${e.status}`), [
      "task app.steps.consume created", "task produce created", "workflow pipeline created", "launchplan pipeline created", "launchplan pipeline-daily created",
    ]);
    assert.ok(admin.stored.has("workflow flytesnacks/development/pipeline@manual-1"));
    assert.equal(r.stderr, "", "--json prints no progress");
  });

  it("OAuth2 client credentials from --client-id and --client-secret-env; a refused secret is never printed", async () => {
    const secured = await startFakeAdmin({ oauth: { clientId: "ci-bot", clientSecret: "very-secret-value-1", token: "tok-e2e" } });
    try {
      const args = ["register", "workflows.ts", "-p", "flytesnacks", "-d", "development", "--endpoint", secured.endpoint, "--insecure", "--cache-dir", join(dir, "cache"), "--client-id", "ci-bot", "--client-secret-env", "CI_SECRET"];
      const env = (secret: string) => ({ PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home", CI_SECRET: secret });
      const ok = await imagespecCli(args, { cwd: dir, timeoutMs: 120_000, env: env("very-secret-value-1") });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(secured.received.filter((r) => r.outcome === "created").length, 5);
      assert.deepEqual(secured.tokenRequests.map((r) => [r.clientId, r.ok, r.scope]), [["ci-bot", true, "all"]]);
      const bad = await imagespecCli([...args, "--version", "other"], { cwd: dir, timeoutMs: 120_000, env: env("wrong-value-xyz") });
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /^error: the OAuth2 token endpoint http:\/\/127\.0\.0\.1:\d+\/oauth2\/token refused the client credentials of client "ci-bot" \(invalid_client\)$/m);
      assert.ok(!bad.stderr.includes("wrong-value-xyz") && !bad.stdout.includes("wrong-value-xyz"));
      assert.doesNotMatch(bad.stderr, /builder native/, "credentials are checked before anything is built");
    } finally {
      await secured.stop();
    }
  });

  it("package writes flyte-package.tgz in pyflyte's layout, read back entry by entry", async () => {
    const r = await cli(["package", "workflows.ts", "-o", "flyte-package.tgz"]);
    assert.equal(r.code, 0, r.stderr);
    const entries = await readTgz(join(dir, "flyte-package.tgz"));
    assert.deepEqual(entries.map((e) => e.name), ["0_app.steps.consume_1.pb", "1_produce_1.pb", "2_pipeline_2.pb", "3_pipeline_3.pb", "4_pipeline-daily_3.pb"]);
    assert.equal(r.stdout, `${entries.map((e) => e.name).join("\n")}\n`);
    assert.match(r.stderr, /^register them with: flytectl register files flyte-package\.tgz --archive -p PROJECT -d DOMAIN --version VERSION$/m, "without --archive flytectl reads a .tgz as a file list and refuses it");
    const help = await cli(["package", "--help"]);
    assert.match(help.stdout, /^ {2}flytectl register files flyte-package\.tgz --archive -p flytesnacks -d development --version v1$/m);
    assert.doesNotMatch(help.stdout, /flytectl register files (?!.*--archive)/);
    for (const entry of entries) await decodePackageEntry(entry.name, entry.bytes);
    const consume = flyteidl.admin.TaskSpec.decode(entries[0]!.bytes).template!;
    assert.equal(consume.id!.version, "{{ registration.version }}");
    assert.match(consume.container!.image!, new RegExp(`^${reg.host}/team/consumer:[a-z2-7]{26}$`));
    const produce = flyteidl.admin.TaskSpec.decode(entries[1]!.bytes).template!;
    assert.deepEqual(produce.container!.command!.slice(0, 2), ["sh", "-c"]);
    assert.equal(flyteidl.admin.WorkflowSpec.decode(entries[2]!.bytes).template!.id!.name, "pipeline");
    assert.equal(flyteidl.admin.LaunchPlan.decode(entries[4]!.bytes).spec!.workflowId!.name, "pipeline");
  });

  it("--registry fills specs that name none, --platform sets the architecture; without a registry a spec is refused", async () => {
    await writeFile(
      join(dir, "local.ts"),
      `import { ImageSpec, containerTask, t } from ${INDEX};
export const job = containerTask({ name: "job", image: new ImageSpec({ name: "job", baseImage: ${JSON.stringify(base())} }), command: ["true"], inputs: { n: t.integer } });
`,
    );
    const refused = await cli(["package", "local.ts", "-o", "local.tgz"]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^error: task "job": its image spec "job" names no registry, and Flyte pulls task images from a registry$/m);
    assert.match(refused.stderr, /^hint: .*or pass --registry$/m);
    const r = await cli(["package", "local.ts", "-o", "local.tgz", "--registry", "registry.example.com/ml", "--platform", "linux/arm64"]);
    assert.equal(r.code, 0, r.stderr);
    const [entry] = await readTgz(join(dir, "local.tgz"));
    const task = flyteidl.admin.TaskSpec.decode(entry!.bytes).template!;
    assert.match(task.container!.image!, /^registry\.example\.com\/ml\/job:[a-z2-7]{26}$/);
    assert.equal(task.container!.architecture, flyteidl.core.Container.Architecture.ARM64);
  });

  it("a wiring type error exits 2 naming the node and the port", async () => {
    await writeFile(
      join(dir, "bad.ts"),
      workflowFile(`${reg.host}/team`, base(), `
export const bad = workflow({ name: "bad", inputs: { label: t.string } }, (inputs) => {
  const c = consume({ n: inputs.label });
  return {};
});
`),
    );
    const r = await cli(["register", "bad.ts", "-p", "p", "-d", "d", "--endpoint", admin.endpoint, "--insecure"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: bad\.ts: workflow "bad": node n0 \(task "app\.steps\.consume"\) input "n": expected integer, but input "label" of the workflow is string$/m);
    assert.match(r.stderr, /^hint: connect a port of the same type/m);
    assert.equal(r.stdout, "");
  });

  it("a task image missing from its registry exits 1 and registers nothing", async () => {
    await writeFile(
      join(dir, "missing.ts"),
      `import { containerTask, workflow, t } from ${INDEX};
export const tool = containerTask({ name: "tool", image: ${JSON.stringify(`${reg.host}/nowhere/tool:1.0`)}, command: ["true"] });
export const wf = workflow({ name: "uses-tool" }, () => { tool({}); });
`,
    );
    const received = admin.received.length;
    const r = await cli(["register", "missing.ts", "-p", "p", "-d", "d", "--endpoint", admin.endpoint, "--insecure"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: ${reg.host}/nowhere/tool:1\\.0 \\(image of task "tool"\\) is not in its registry$`, "m"));
    assert.match(r.stderr, /^hint: push the image first/m);
    assert.equal(admin.received.length, received);
  });

  it("an unreachable control plane exits 1 before anything is built", async () => {
    const port = await freePort();
    const r = await cli(["register", "workflows.ts", "-p", "p", "-d", "d", "--endpoint", `127.0.0.1:${port}`, "--insecure", "--timeout", "5"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: cannot reach FlyteAdmin at 127\\.0\\.0\\.1:${port} `, "m"));
    assert.match(r.stderr, /^hint: check --endpoint/m);
    assert.doesNotMatch(r.stderr, /builder native/);
  });

  it("usage errors exit 2: no --project, no --endpoint, a secret flag without --client-id", async () => {
    const noProject = await cli(["register", "workflows.ts", "--domain", "d", "--endpoint", admin.endpoint]);
    assert.equal(noProject.code, 2, noProject.stderr);
    assert.match(noProject.stderr, /^error: register needs --project and --domain$/m);
    const noEndpoint = await cli(["register", "workflows.ts", "-p", "p", "-d", "d"]);
    assert.equal(noEndpoint.code, 2, noEndpoint.stderr);
    assert.match(noEndpoint.stderr, /^error: register needs --endpoint/m);
    const noClient = await cli(["register", "workflows.ts", "-p", "p", "-d", "d", "--endpoint", admin.endpoint, "--client-secret-env", "X"]);
    assert.equal(noClient.code, 2, noClient.stderr);
    assert.match(noClient.stderr, /without --client-id/);
  });
});

// The workflow example as a user runs it: the compiled CLI (`npm test` builds dist/ before the
// tests), the example importing "imagespec" by name. Every packaged entity is read back through the
// .proto sources; then the example is planned with --dry-run and registered with the test
// FlyteAdmin (which refuses a workflow before the launch plans it launches, resources over its
// default platform limits and unknown references) once its image is in the registry.
describe("examples/flyte-workflows (e2e, compiled CLI)", () => {
  let reg: TestRegistry;
  let registry: Registry;
  let admin: FakeAdmin;
  let dir: string;
  const example = join(ROOT, "examples", "flyte-workflows", "workflows.ts");
  const dist = (args: string[]) => run(process.execPath, [join(ROOT, "dist", "cli", "main.js"), ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" }, timeoutMs: 120_000 });

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    admin = await startFakeAdmin();
    dir = await tempDir();
  });
  after(async () => {
    await admin.stop();
    await registry.close();
    await reg.stop();
    await removeDir(dir);
  });

  it("package writes every entity, each after what it refers to, readable through the .proto sources", async () => {
    const out = join(dir, "flyte-package.tgz");
    const r = await dist(["package", example, "--registry", `${reg.host}/team`, "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    const entries = await readTgz(out);
    const names = entries.map((e) => e.name.replace(/^\d+_/, ""));
    assert.deepEqual(names.filter((n) => n.endsWith("_1.pb")).map((n) => n.replace(/_[0-9a-f]{32}-/, "_HASH-")), [
      "app.steps.map_square_HASH-arraynode_1.pb", "app.steps.square_1.pb", "app.steps.stats_1.pb", "app.steps.total_1.pb", "count-words_1.pb",
    ]);
    assert.ok(names.indexOf("sum-of-squares-first-ten_3.pb") < names.indexOf("report_2.pb"), "the launch plan report launches comes before report");
    assert.ok(names.indexOf("sum-of-squares_2.pb") < names.indexOf("sum-of-squares-first-ten_3.pb"));
    const decoded = new Map<string, Record<string, unknown>>();
    for (const entry of entries) decoded.set(entry.name.replace(/^\d+_/, ""), await decodePackageEntry(entry.name, entry.bytes));

    type Template = { container: { image: string }; metadata: { runtime: unknown }; interface: { outputs: { variables: Record<string, unknown> } } };
    const stats = (decoded.get("app.steps.stats_1.pb")!.template as Template);
    assert.match(stats.container.image, new RegExp(`^${reg.host}/team/flyte-example:[a-z2-7]{26}$`));
    assert.deepEqual(stats.metadata.runtime, { type: "FLYTE_SDK", version: "1.16.1", flavor: "python" }, "the flytekit the spec pins");
    assert.deepEqual(Object.keys(stats.interface.outputs.variables).sort(), ["count", "mean"]);
    const count = decoded.get("count-words_1.pb")!.template as Template;
    assert.deepEqual(count.metadata.runtime, { version: VERSION, flavor: "imagespec" }, "type OTHER, the default, left out: a container task runs no SDK");

    type Node = { id: string; metadata: { name: string; interruptible?: boolean }; arrayNode?: { node: { metadata: { interruptible?: boolean } } }; workflowNode?: Record<string, { name: string }> };
    const sum = decoded.get("sum-of-squares_2.pb") as { template: { nodes: Node[] } };
    assert.equal(sum.template.nodes[0]!.arrayNode!.node.metadata.interruptible, true, "square is interruptible on the mapped runs");
    const report = decoded.get("report_2.pb") as { template: { nodes: Node[] }; subWorkflows: { id: { name: string } }[] };
    assert.deepEqual(report.template.nodes.map((n) => Object.entries(n.workflowNode!).map(([k, v]) => `${k} ${v.name}`)[0]), ["subWorkflowRef words", "launchplanRef sum-of-squares-first-ten"]);
    assert.deepEqual(report.subWorkflows.map((w) => w.id.name), ["words"]);
  });

  it("register --dry-run plans it; with the image in the registry, register creates every entity in FlyteAdmin", async () => {
    const common = ["--registry", `${reg.host}/team`, "-p", "flytesnacks", "-d", "development"];
    const plan = await dist(["register", example, ...common, "--dry-run"]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, new RegExp(`^image ${reg.host}/team/flyte-example:[a-z2-7]{26} would-build$`, "m"));
    assert.match(plan.stderr, /dry run: would register 13 entities/);
    assert.equal(admin.received.length, 0);

    // Building needs the Python base image from its public registry; the test stands the image in with the test base.
    const tag = await dist(["tag", join(ROOT, "examples", "flyte-workflows", "imagespec.yaml"), "--registry", `${reg.host}/team`]);
    assert.equal(tag.code, 0, tag.stderr);
    const image = await makeTestImage({ env: ["PATH=/bin"] });
    await registry.copy(image.ref, tag.stdout.trim());
    await image.cleanup();

    const r = await dist(["register", example, ...common, "--endpoint", admin.endpoint, "--insecure", "--version", "v1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^image .*flyte-example:[a-z2-7]{26}@sha256:[0-9a-f]{64} exists$/m);
    assert.deepEqual(admin.received.map((x) => x.outcome), Array(13).fill("created"));
    const order = admin.received.map((x) => x.key.replace(/ flytesnacks\/development\//, " ").replace(/@v1$/, ""));
    assert.ok(order.indexOf("launchplan sum-of-squares-first-ten") < order.indexOf("workflow report"), order.join(", "));
  });
});
