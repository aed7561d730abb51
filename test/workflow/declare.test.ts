// Declaring tasks, workflows and launch plans, and what they serialise to: every message is encoded
// and decoded again with @flyteorg/flyteidl's generated classes before it is checked, and the
// package is read back from the .tgz entry by entry.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ImageSpec } from "../../src/spec/index.js";
import {
  collectEntities,
  containerTask,
  contentVersion,
  flyteidl,
  launchPlan,
  PACKAGE_TARGET,
  pythonTask,
  resolveImages,
  serializeEntities,
  t,
  workflow,
  workflowClosure,
  writePackage,
  type Entities,
  type Target,
} from "../../src/workflow/index.js";
import { encodeLaunchPlan, encodeTaskSpec, encodeWorkflowSpec } from "../../src/workflow/serialize.js";
import { indexWidth } from "../../src/workflow/package.js";
import { pyflyteExecuteArgs } from "../../src/workflow/task.js";
import type { FlyteIdl } from "../../src/workflow/idl.js";
import { VERSION } from "../../src/version.js";
import { readTgz, removeDir, tempDir } from "../support/tools.js";
import { decodePackageEntry } from "../support/flyteidl-reflection.js";

const TARGET: Target = { project: "flytesnacks", domain: "development", version: "v1" };
const c = flyteidl.core;

function specs() {
  const cpu = new ImageSpec({ name: "etl", registry: "registry.example.com/team", baseImage: "python:3.12-slim", packages: ["pandas==2.2.2"] }, { baseDir: "/tmp" });
  const arm = new ImageSpec({ name: "trainer", registry: "registry.example.com/team", baseImage: "python:3.12-slim", platform: "linux/arm64" }, { baseDir: "/tmp" });
  return { cpu, arm };
}

function declare() {
  const { cpu, arm } = specs();
  const prepare = containerTask({
    name: "prepare",
    image: cpu,
    command: ["sh", "-c", "echo {{.inputs.rows}} > /var/flyte/outputs/count"],
    inputs: { rows: t.integer, source: { type: t.file("csv"), default: "s3://bucket/in.csv", description: "input table" } },
    outputs: { count: t.integer, table: t.structuredDataset() },
    resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: 2, memory: "4Gi", ephemeralStorage: "10Gi" } },
    env: { MODE: "batch" },
    retries: 2,
    timeout: "1h30m",
    cache: { version: "3", serialize: true, ignoreInputs: ["source"] },
    interruptible: true,
    secrets: [{ group: "aws", key: "token", mountAs: "env" }],
  });
  const train = pythonTask({
    module: "app.train",
    function: "fit",
    image: arm,
    inputs: { count: t.integer, table: t.structuredDataset(), rate: { type: t.float, default: 0.1 }, tags: { type: t.list(t.string), default: ["a", "b"] }, params: { type: t.map(t.float), default: { l1: 0.5 } } },
    outputs: { model: t.directory(), score: t.float, took: t.duration, at: t.datetime, ok: t.boolean },
    namedOutputs: true,
    resources: { requests: { gpu: 1 } },
    flytekitVersion: "1.16.1",
  });
  const pipeline = workflow(
    { name: "pipeline", inputs: { rows: t.integer, start: { type: t.datetime, default: new Date("2024-05-01T00:00:00Z") } }, outputs: { score: t.float, model: t.directory() } },
    (inputs) => {
      const p = prepare({ rows: inputs.rows });
      const m = train({ count: p.count, table: p.table, tags: ["x"] });
      return { score: m.score, model: m.model };
    },
  );
  const nightly = launchPlan(pipeline, { name: "pipeline-nightly", fixedInputs: { rows: 1000 }, schedule: { cron: "0 3 * * *", kickoffTimeInput: "start" } });
  return { prepare, train, pipeline, nightly, cpu, arm };
}

async function serialized(entities: Entities, target = TARGET) {
  const images = await resolveImages(entities);
  return serializeEntities(entities, images, target);
}

describe("declaring tasks and workflows", () => {
  void it("a task called inside a workflow body becomes a node; tasks, the workflow and a default launch plan are collected", () => {
    const d = declare();
    const entities = collectEntities(Object.values(d));
    assert.deepEqual(entities.tasks.map((x) => x.name), ["app.train.fit", "prepare"]);
    assert.deepEqual(entities.workflows.map((x) => x.name), ["pipeline"]);
    assert.deepEqual(entities.launchPlans.map((x) => [x.name, x.isDefault]), [["pipeline", true], ["pipeline-nightly", false]]);
    const nodes = entities.workflows[0]!.nodes;
    assert.deepEqual(nodes.map((n) => [n.id, n.kind === "task" ? n.task.name : "?", n.upstream]), [["n0", "prepare", []], ["n1", "app.train.fit", ["n0"]]]);
  });

  void it("a wiring type error names the workflow, the node, the port and where the value came from", () => {
    const { prepare, train } = declare();
    assert.throws(
      () => workflow({ name: "bad", inputs: { rows: t.string } }, (i) => void prepare({ rows: i.rows })),
      (e: Error & { code: string; hint: string }) => {
        assert.equal(e.code, "INVALID_WORKFLOW_TYPES");
        assert.equal(e.message, 'workflow "bad": node n0 (task "prepare") input "rows": expected integer, but input "rows" of the workflow is string');
        assert.match(e.hint, /same type/);
        return true;
      },
    );
    assert.throws(
      () =>
        workflow({ name: "bad2", inputs: { rows: t.integer } }, (i) => {
          const p = prepare({ rows: i.rows });
          train({ count: p.count, table: p.count });
        }),
      /workflow "bad2": node n1 \(task "app.train.fit"\) input "table": expected structuredDataset, but output "count" of node n0 \(task "prepare"\) is integer/,
    );
  });

  void it("reports unbound inputs, unknown inputs, bad constants, wrong outputs and calls outside a workflow", () => {
    const { prepare } = declare();
    assert.throws(() => workflow({ name: "w" }, () => void prepare({})), /node n0 \(task "prepare"\): input "rows" \(integer\) is not bound/);
    assert.throws(() => workflow({ name: "w" }, () => void prepare({ rows: 1, nope: 2 } as never)), /node n0 \(task "prepare"\): task has no input "nope"/);
    assert.throws(() => workflow({ name: "w" }, () => void prepare({ rows: 1.5 })), /node n0 \(task "prepare"\) input "rows": expected a whole number \(64-bit\) \(integer\), got 1.5/);
    assert.throws(() => workflow({ name: "w" }, () => void prepare({ rows: 2n ** 63n })), /input "rows": expected a whole number \(64-bit\)/);
    assert.throws(() => workflow({ name: "w", outputs: { n: t.string } }, () => ({ n: prepare({ rows: 1 }).count })), /workflow "w" output "n": expected string, but output "count" of node n0 \(task "prepare"\) is integer/);
    assert.throws(() => workflow({ name: "w", outputs: { n: t.integer } }, () => ({}) as never), /output "n" \(integer\) is not returned/);
    assert.throws(() => prepare({ rows: 1 }), /task "prepare" was called outside a workflow body/);
  });

  void it("validates task settings when declared", () => {
    const { cpu } = specs();
    assert.throws(() => containerTask({ name: "x", image: cpu, command: ["a"], resources: { requests: { cpu: "lots" } } }), /task "x" resources.requests.cpu: "lots" is not a quantity/);
    assert.throws(() => containerTask({ name: "x", image: cpu, command: ["a"], timeout: "soon" }), /task "x" timeout: expected a duration/);
    assert.throws(() => containerTask({ name: "x", image: cpu, command: ["a"], cache: { version: "" } }), /a cached task needs a cache version/);
    assert.throws(() => containerTask({ name: "x", image: cpu, command: [] }), /command must be a non-empty list/);
    assert.throws(() => containerTask({ name: "x", image: cpu, command: ["a"], inputs: { n: { type: t.integer, default: "1" } } }), /task "x" input "n" default: expected a whole number/);
    assert.throws(() => pythonTask({ module: "app-x", function: "f", image: cpu }), /is not a Python module path/);
    assert.throws(() => containerTask({ name: "x", image: 42 as never, command: ["a"] }), /image must be an ImageSpec or an image reference string/);
  });

  void it("validates launch plans: inputs, types, cron, and that a schedule leaves nothing unset", () => {
    const { pipeline } = declare();
    assert.throws(() => launchPlan(pipeline, { name: "lp", fixedInputs: { nope: 1 } }), /fixed input "nope" is not an input of the workflow/);
    assert.throws(() => launchPlan(pipeline, { name: "lp", defaultInputs: { rows: "many" } }), /default input "rows": expected a whole number/);
    assert.throws(() => launchPlan(pipeline, { name: "lp", fixedInputs: { rows: 1 }, schedule: { cron: "every day" } }), /schedule cron "every day" is not a cron expression/);
    assert.throws(() => launchPlan(pipeline, { name: "lp", schedule: { cron: "@daily" } }), /a scheduled plan must set every input, but "rows" has no value/);
    assert.throws(() => launchPlan(pipeline, { name: "pipeline" }), /the name is the workflow's/);
  });

  void it("two different tasks with one name are refused", () => {
    const { cpu } = specs();
    const a = containerTask({ name: "same", image: cpu, command: ["a"] });
    const b = containerTask({ name: "same", image: cpu, command: ["b"] });
    assert.throws(() => collectEntities([a, b]), /two different tasks are named "same"/);
  });
});

describe("serialisation to flyteidl", () => {
  void it("TaskTemplate of a container task: image, raw-container protocol, resources, env, metadata, interface", async () => {
    const d = declare();
    const s = await serialized(collectEntities(Object.values(d)));
    const task = flyteidl.admin.TaskSpec.decode(encodeTaskSpec(s.tasks.find((x) => x.name === "prepare")!.spec)).template!;
    const image = s.tasks.find((x) => x.name === "prepare")!.image.image;
    assert.match(image, /^registry\.example\.com\/team\/etl:[a-z2-7]{26}$/);
    assert.equal(task.container!.image, image);
    assert.equal(task.type, "raw-container");
    assert.deepEqual(
      { ...task.id },
      { resourceType: c.ResourceType.TASK, project: "flytesnacks", domain: "development", name: "prepare", version: "v1" },
    );
    assert.deepEqual(task.container!.command, ["sh", "-c", "echo {{.inputs.rows}} > /var/flyte/outputs/count"]);
    assert.equal(task.container!.architecture, c.Container.Architecture.AMD64);
    const R = c.Resources.ResourceName;
    assert.deepEqual(task.container!.resources!.requests!.map((r) => [r.name, r.value]), [[R.CPU, "500m"], [R.MEMORY, "1Gi"]]);
    assert.deepEqual(task.container!.resources!.limits!.map((r) => [r.name, r.value]), [[R.CPU, "2"], [R.MEMORY, "4Gi"], [R.EPHEMERAL_STORAGE, "10Gi"]]);
    assert.deepEqual(task.container!.env!.map((e) => [e.key, e.value]), [["MODE", "batch"]]);
    const dc = task.container!.dataConfig!;
    assert.equal(dc.enabled, true);
    assert.equal(dc.inputPath, "/var/flyte/inputs");
    assert.equal(dc.outputPath, "/var/flyte/outputs");
    assert.equal(dc.format, c.DataLoadingConfig.LiteralMapFormat.JSON);
    const m = task.metadata!;
    assert.equal(m.discoverable, true);
    assert.equal(m.discoveryVersion, "3");
    assert.equal(m.cacheSerializable, true);
    assert.deepEqual(m.cacheIgnoreInputVars, ["source"]);
    assert.equal(m.retries!.retries, 2);
    assert.equal(Number(m.timeout!.seconds), 5400);
    assert.equal(m.interruptible, true);
    assert.deepEqual(task.securityContext!.secrets!.map((x) => [x.group, x.key, x.mountRequirement]), [["aws", "token", c.Secret.MountType.ENV_VAR]]);
    const inputs = task.interface!.inputs!.variables!;
    assert.equal(inputs.rows!.type!.simple, c.SimpleType.INTEGER);
    assert.equal(inputs.source!.type!.blob!.format, "csv");
    assert.equal(inputs.source!.type!.blob!.dimensionality, c.BlobType.BlobDimensionality.SINGLE);
    assert.equal(inputs.source!.description, "input table");
    const outputs = task.interface!.outputs!.variables!;
    assert.equal(outputs.table!.type!.structuredDatasetType!.format, "", "flytekit's StructuredDataset declares no format");
    assert.deepEqual({ ...m.runtime }, { type: c.RuntimeMetadata.RuntimeType.OTHER, version: VERSION, flavor: "imagespec" }, "a container task runs no SDK");
  });

  void it("TaskTemplate of a Python task: pyflyte-execute args as flytekit writes them, arm64, gpu, typed collections", async () => {
    const d = declare();
    const s = await serialized(collectEntities(Object.values(d)));
    const entry = s.tasks.find((x) => x.name === "app.train.fit")!;
    const task = flyteidl.admin.TaskSpec.decode(encodeTaskSpec(entry.spec)).template!;
    assert.equal(task.type, "python-task");
    assert.match(task.container!.image!, /^registry\.example\.com\/team\/trainer:[a-z2-7]{26}$/);
    assert.deepEqual(task.container!.command, []);
    assert.deepEqual(task.container!.args, [
      "pyflyte-execute", "--inputs", "{{.input}}", "--output-prefix", "{{.outputPrefix}}",
      "--raw-output-data-prefix", "{{.rawOutputDataPrefix}}", "--checkpoint-path", "{{.checkpointOutputPrefix}}",
      "--prev-checkpoint", "{{.prevCheckpointPrefix}}", "--resolver", "flytekit.core.python_auto_container.default_task_resolver",
      "--", "task-module", "app.train", "task-name", "fit",
    ]);
    assert.deepEqual(pyflyteExecuteArgs("m", "f", "r").slice(-7), ["--resolver", "r", "--", "task-module", "m", "task-name", "f"]);
    assert.equal(task.container!.architecture, c.Container.Architecture.ARM64);
    assert.equal(task.container!.dataConfig, null);
    assert.deepEqual(task.container!.resources!.requests!.map((r) => [r.name, r.value]), [[c.Resources.ResourceName.GPU, "1"]]);
    const inputs = task.interface!.inputs!.variables!;
    assert.equal(inputs.tags!.type!.collectionType!.simple, c.SimpleType.STRING);
    assert.equal(inputs.params!.type!.mapValueType!.simple, c.SimpleType.FLOAT);
    const outputs = task.interface!.outputs!.variables!;
    assert.equal(outputs.model!.type!.blob!.dimensionality, c.BlobType.BlobDimensionality.MULTIPART);
    assert.equal(outputs.took!.type!.simple, c.SimpleType.DURATION);
    assert.equal(outputs.at!.type!.simple, c.SimpleType.DATETIME);
    assert.equal(outputs.ok!.type!.simple, c.SimpleType.BOOLEAN);
    assert.equal(task.metadata!.discoverable, false);
    assert.equal(task.metadata!.timeout, null);
    assert.deepEqual({ ...task.metadata!.runtime }, { type: c.RuntimeMetadata.RuntimeType.FLYTE_SDK, version: "1.16.1", flavor: "python" }, "as flytekit records itself");
    assert.equal((task.metadata as { interruptibleValue?: string }).interruptibleValue, undefined, "not declared: unset, as flytekit leaves it");
  });

  void it("WorkflowTemplate: nodes bound to promises and constants, defaults filled in, outputs bound; closure holds the tasks", async () => {
    const d = declare();
    const s = await serialized(collectEntities(Object.values(d)));
    const wf = flyteidl.admin.WorkflowSpec.decode(encodeWorkflowSpec(s.workflows[0]!.spec)).template!;
    assert.equal(wf.id!.resourceType, c.ResourceType.WORKFLOW);
    assert.equal(wf.id!.name, "pipeline");
    const [n0, n1] = wf.nodes!;
    assert.equal(n0!.id, "n0");
    assert.deepEqual({ ...n0!.taskNode!.referenceId! }, { resourceType: c.ResourceType.TASK, project: "flytesnacks", domain: "development", name: "prepare", version: "v1" });
    const b0: Record<string, FlyteIdl.core.IBindingData> = Object.fromEntries(n0!.inputs!.map((b) => [b.var!, b.binding!]));
    assert.deepEqual({ ...b0.rows!.promise! }, { nodeId: "start-node", var: "rows", attrPath: [] });
    assert.equal(b0.source!.scalar!.blob!.uri, "s3://bucket/in.csv", "the default of an unbound input is bound as a constant");
    const b1: Record<string, FlyteIdl.core.IBindingData> = Object.fromEntries(n1!.inputs!.map((b) => [b.var!, b.binding!]));
    assert.equal(b1.count!.promise!.nodeId, "n0");
    assert.equal(b1.count!.promise!.var, "count");
    assert.deepEqual(b1.tags!.collection!.bindings!.map((x) => x.scalar!.primitive!.stringValue), ["x"]);
    assert.equal(b1.rate!.scalar!.primitive!.floatValue, 0.1);
    assert.equal(b1.params!.map!.bindings!.l1!.scalar!.primitive!.floatValue, 0.5);
    assert.deepEqual(n1!.upstreamNodeIds, ["n0"]);
    assert.deepEqual(wf.outputs!.map((o) => [o.var, o.binding!.promise!.nodeId, o.binding!.promise!.var]), [["model", "n1", "model"], ["score", "n1", "score"]]);

    const closure = flyteidl.admin.WorkflowClosure.decode(flyteidl.admin.WorkflowClosure.encode(workflowClosure(s, "pipeline")).finish());
    assert.equal(closure.compiledWorkflow!.primary!.template!.id!.name, "pipeline");
    assert.deepEqual(closure.compiledWorkflow!.tasks!.map((x) => x.template!.id!.name).sort(), ["app.train.fit", "prepare"]);
  });

  void it("LaunchPlans: the default one requires inputs without defaults; a named one has fixed inputs and a cron schedule", async () => {
    const d = declare();
    const s = await serialized(collectEntities(Object.values(d)));
    const byName = Object.fromEntries(s.launchPlans.map((l) => [l.name, flyteidl.admin.LaunchPlan.decode(encodeLaunchPlan(l.plan))]));
    const def = byName.pipeline!;
    assert.equal(def.id!.resourceType, c.ResourceType.LAUNCH_PLAN);
    assert.equal(def.spec!.workflowId!.name, "pipeline");
    assert.equal(def.spec!.defaultInputs!.parameters!.rows!.required, true);
    const start = def.spec!.defaultInputs!.parameters!.start!;
    assert.equal(Number(start.default!.scalar!.primitive!.datetime!.seconds), Date.parse("2024-05-01T00:00:00Z") / 1000);
    assert.equal(def.spec!.entityMetadata!.schedule, null);
    const nightly = byName["pipeline-nightly"]!;
    assert.equal(Number(nightly.spec!.fixedInputs!.literals!.rows!.scalar!.primitive!.integer), 1000);
    assert.equal(nightly.spec!.defaultInputs!.parameters!.rows, undefined, "a fixed input is not a parameter");
    assert.equal(nightly.spec!.entityMetadata!.schedule!.cronSchedule!.schedule, "0 3 * * *");
    assert.equal(nightly.spec!.entityMetadata!.schedule!.kickoffTimeInputArg, "start");
  });

  void it("64-bit integers: a bigint default keeps every digit", async () => {
    const { cpu } = specs();
    const big = containerTask({ name: "big", image: cpu, command: ["a"], inputs: { n: { type: t.integer, default: 2n ** 62n + 1n } } });
    const wf = workflow({ name: "big-wf" }, () => void big({}));
    const s = await serialized(collectEntities([wf]));
    const node = flyteidl.admin.WorkflowSpec.decode(encodeWorkflowSpec(s.workflows[0]!.spec)).template!.nodes![0]!;
    assert.equal(node.inputs![0]!.binding!.scalar!.primitive!.integer!.toString(), (2n ** 62n + 1n).toString());
  });

  void it("the content version is stable, and changes with an image, a task or a plan", async () => {
    const v = async (entities: Entities) => contentVersion(entities, await resolveImages(entities));
    const one = await v(collectEntities(Object.values(declare())));
    const two = await v(collectEntities(Object.values(declare())));
    assert.equal(one, two);
    assert.match(one, /^[0-9a-f]{20}$/);
    const { cpu } = specs();
    const task = (image: ImageSpec | string, retries = 0) => containerTask({ name: "x", image, command: ["a"], retries });
    const base = await v(collectEntities([task(cpu)]));
    assert.notEqual(await v(collectEntities([task(cpu.withEnv({ A: "1" }))])), base, "another image, another version");
    assert.notEqual(await v(collectEntities([task(cpu, 1)])), base, "another task setting, another version");
    assert.notEqual(await v(collectEntities([task("ghcr.io/org/x:1")])), await v(collectEntities([task("ghcr.io/org/x:2")])));
  });

  void it("a spec without a registry cannot be a task's image", async () => {
    const local = containerTask({ name: "x", image: new ImageSpec({ name: "local" }), command: ["a"] });
    await assert.rejects(resolveImages(collectEntities([local])), (e: Error & { code: string }) => e.code === "WORKFLOW_IMAGE_NO_REGISTRY" && /task "x": its image spec "local" names no registry/.test(e.message));
  });
});

describe("flyte-package.tgz", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await removeDir(dir);
  });

  void it("indexes entries like pyflyte package", () => {
    assert.deepEqual([1, 9, 10, 11, 100, 101].map(indexWidth), [0, 1, 1, 2, 2, 3]);
  });

  void it("holds TaskSpecs, WorkflowSpecs and LaunchPlans named <index>_<name>_<type>.pb, ids with flytectl's placeholders", async () => {
    const d = declare();
    const s = await serialized(collectEntities(Object.values(d)), PACKAGE_TARGET);
    const file = join(dir, "flyte-package.tgz");
    await writePackage(s, file);
    const entries = await readTgz(file);
    assert.deepEqual(entries.map((e) => e.name), ["0_app.train.fit_1.pb", "1_prepare_1.pb", "2_pipeline_2.pb", "3_pipeline_3.pb", "4_pipeline-nightly_3.pb"]);
    for (const entry of entries) await decodePackageEntry(entry.name, entry.bytes);
    const t0 = flyteidl.admin.TaskSpec.decode(entries[0]!.bytes).template!;
    assert.equal(t0.id!.name, "app.train.fit");
    assert.equal(t0.id!.project, "{{ registration.project }}");
    assert.equal(t0.id!.domain, "{{ registration.domain }}");
    assert.equal(t0.id!.version, "{{ registration.version }}");
    assert.equal(t0.container!.image, s.tasks[0]!.image.image);
    assert.equal(t0.container!.args![0], "pyflyte-execute");
    const t1 = flyteidl.admin.TaskSpec.decode(entries[1]!.bytes).template!;
    assert.equal(t1.type, "raw-container");
    const wf = flyteidl.admin.WorkflowSpec.decode(entries[2]!.bytes).template!;
    assert.equal(wf.nodes!.length, 2);
    assert.equal(wf.nodes![0]!.taskNode!.referenceId!.version, "{{ registration.version }}");
    const lp = flyteidl.admin.LaunchPlan.decode(entries[3]!.bytes);
    assert.equal(lp.id!.name, "pipeline");
    assert.equal(lp.spec!.workflowId!.name, "pipeline");
    const nightly = flyteidl.admin.LaunchPlan.decode(entries[4]!.bytes);
    assert.equal(nightly.spec!.entityMetadata!.schedule!.cronSchedule!.schedule, "0 3 * * *");
  });
});
