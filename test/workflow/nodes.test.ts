// Sub-workflows, launch plans and map tasks as nodes: declared in TypeScript, checked at the call,
// serialised as flytekit's translator writes them, and read back with both the generated classes
// and the .proto sources.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  collectEntities,
  containerTask,
  entityOrder,
  launchPlan,
  mapTask,
  pythonTask,
  resolveImages,
  serializeEntities,
  t,
  workflow,
  workflowClosure,
  type Target,
} from "../../src/workflow/index.js";
import { encodeLaunchPlan, encodeTaskSpec, encodeWorkflowSpec } from "../../src/workflow/serialize.js";
import { packageEntries } from "../../src/workflow/package.js";
import { decodeBoth } from "../support/flyteidl-reflection.js";

const TARGET: Target = { project: "p", domain: "d", version: "v1" };
const image = "registry.example.com/team/app:1";

function declare() {
  const square = pythonTask({ module: "app.steps", function: "square", image, inputs: { n: t.integer }, outputs: { o0: t.integer }, retries: 2, interruptible: true, flytekitVersion: "1.16.1" });
  const total = pythonTask({ module: "app.steps", function: "total", image, inputs: { values: t.list(t.integer) }, outputs: { o0: t.integer } });
  const squares = mapTask(square, { concurrency: 4 });
  const sumOfSquares = workflow({ name: "sum-of-squares", inputs: { numbers: t.list(t.integer) }, outputs: { total: t.integer } }, (i) => {
    const s = squares({ n: i.numbers });
    return { total: total({ values: s.o0 }).o0 };
  });
  const count = containerTask({ name: "count", image, command: ["sh", "-c", "echo 3 > /var/flyte/outputs/n"], inputs: { label: t.string }, outputs: { n: t.integer } });
  const counting = workflow({ name: "counting", inputs: { label: t.string, scale: { type: t.integer, default: 2 } }, outputs: { n: t.integer } }, (i) => ({ n: count({ label: i.label }).n }));
  const countingFixed = launchPlan(counting, { name: "counting-fixed", fixedInputs: { label: "fixed" } });
  const report = workflow({ name: "report", inputs: { numbers: t.list(t.integer) }, outputs: { total: t.integer, n: t.integer } }, (i) => {
    const sub = sumOfSquares({ numbers: i.numbers });
    const launched = countingFixed({ scale: sub.total });
    return { total: sub.total, n: launched.n };
  });
  return { square, squares, sumOfSquares, counting, countingFixed, report };
}

async function serialized() {
  const entities = collectEntities([declare().report]);
  return serializeEntities(entities, await resolveImages(entities), TARGET);
}

describe("sub-workflows, launch plans and map tasks as nodes", () => {
  void it("calls are checked like task calls: unknown, unbound, mistyped and fixed inputs", () => {
    const { sumOfSquares, countingFixed, squares } = declare();
    assert.throws(() => workflow({ name: "w", inputs: { x: t.integer } }, (i) => void sumOfSquares({ numbers: i.x })), /node n0 \(workflow "sum-of-squares"\) input "numbers": expected list<integer>, but input "x" of the workflow is integer/);
    assert.throws(() => workflow({ name: "w" }, () => void sumOfSquares({})), /node n0 \(workflow "sum-of-squares"\): input "numbers" \(list<integer>\) is not bound/);
    assert.throws(() => workflow({ name: "w" }, () => void countingFixed({ label: "x" })), (e: Error & { hint: string }) => {
      assert.equal(e.message, 'workflow "w": node n0 (launch plan "counting-fixed"): input "label" is fixed by the launch plan');
      return true;
    });
    assert.throws(() => workflow({ name: "w" }, () => void countingFixed({ size: 1 } as never)), /node n0 \(launch plan "counting-fixed"\): launch plan has no input "size"/);
    assert.throws(() => workflow({ name: "w" }, () => void squares({ n: 3 })), /node n0 \(map task over "app.steps.square"\) input "n": expected an array \(list<integer>\), got 3/);
  });

  void it("map tasks: only Python tasks with at most one output; optional outputs are refused", () => {
    const { square } = declare();
    const shell = containerTask({ name: "shell", image, command: ["true"] });
    assert.throws(() => mapTask(shell), /map task over "shell": only a pythonTask can be mapped/);
    const two = pythonTask({ module: "m", function: "f", image, outputs: { o0: t.integer, o1: t.integer } });
    assert.throws(() => mapTask(two), /the task has 2 outputs; a map task takes a task with at most one/);
    assert.throws(() => mapTask(square, { minSuccessRatio: 0.5 }), /list of optional values/);
    assert.throws(() => mapTask(square, { concurrency: -1 }), /concurrency must be a whole number >= 0/);
  });

  void it("collects the sub-workflow, the launch plan and its workflow, and the map task (not the mapped task)", () => {
    const entities = collectEntities([declare().report]);
    assert.deepEqual(entities.workflows.map((w) => w.name), ["counting", "report", "sum-of-squares"]);
    assert.deepEqual(entities.launchPlans.map((l) => l.name), ["counting", "counting-fixed", "report", "sum-of-squares"]);
    const hash = createHash("md5").update("4None1.0").digest("hex");
    assert.deepEqual(entities.tasks.map((x) => x.name), [`app.steps.map_square_${hash}-arraynode`, "app.steps.total", "count"]);
  });

  void it("the map task's template: list interface, pyflyte-map-execute with flytekit's map resolver, task type version 1, ArrayJob custom", async () => {
    const s = await serialized();
    const entry = s.tasks.find((x) => x.name.includes("map_square"))!;
    const spec = await decodeBoth("flyteidl.admin.TaskSpec", encodeTaskSpec(entry.spec), entry.name);
    const template = spec.template as { type: string; taskTypeVersion: number; container: { args: string[] }; interface: { inputs: { variables: Record<string, { type: unknown }> }; outputs: { variables: Record<string, { type: unknown }> } }; custom: unknown; metadata: { retries: { retries: number }; interruptible: boolean } };
    assert.equal(template.type, "python-task");
    assert.equal(template.taskTypeVersion, 1);
    assert.deepEqual(template.container.args.slice(0, 1), ["pyflyte-map-execute"]);
    assert.deepEqual(template.container.args.slice(11), [
      "--resolver", "flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver", "--",
      "vars", "", "resolver", "flytekit.core.python_auto_container.default_task_resolver", "task-module", "app.steps", "task-name", "square",
    ]);
    assert.deepEqual(template.interface.inputs.variables.n!.type, { collectionType: { simple: "INTEGER" } });
    assert.deepEqual(template.interface.outputs.variables.o0!.type, { collectionType: { simple: "INTEGER" } });
    assert.deepEqual(template.custom, { fields: { parallelism: { stringValue: "4" }, minSuccessRatio: { numberValue: 1 } } });
    assert.equal(template.metadata.retries.retries, 2);
    assert.equal(template.metadata.interruptible, true);
  });

  void it("the workflow: an ArrayNode around the map task, a sub-workflow node with the sub-workflow in sub_workflows, a launch plan node", async () => {
    const s = await serialized();
    const report = s.workflows.find((w) => w.name === "report")!;
    const spec = (await decodeBoth("flyteidl.admin.WorkflowSpec", encodeWorkflowSpec(report.spec), "report")) as {
      template: { nodes: Record<string, unknown>[] };
      subWorkflows: { id: { name: string }; nodes: Record<string, unknown>[] }[];
    };
    const [sub, launched] = spec.template.nodes;
    assert.deepEqual(sub, {
      id: "n0",
      metadata: { name: "sum-of-squares", interruptible: false },
      inputs: [{ var: "numbers", binding: { promise: { nodeId: "start-node", var: "numbers" } } }],
      workflowNode: { subWorkflowRef: { resourceType: "WORKFLOW", project: "p", domain: "d", name: "sum-of-squares", version: "v1" } },
    });
    assert.deepEqual(launched, {
      id: "n1",
      metadata: { name: "counting", interruptible: false },
      inputs: [{ var: "scale", binding: { promise: { nodeId: "n0", var: "total" } } }],
      upstreamNodeIds: ["n0"],
      workflowNode: { launchplanRef: { resourceType: "LAUNCH_PLAN", project: "p", domain: "d", name: "counting-fixed", version: "v1" } },
    });
    assert.deepEqual(spec.subWorkflows.map((w) => w.id.name), ["sum-of-squares"]);
    const mapNode = spec.subWorkflows[0]!.nodes[0] as { id: string; metadata: unknown; arrayNode: Record<string, unknown> & { node: Record<string, unknown> } };
    const mapName = s.tasks.find((x) => x.name.includes("map_square"))!.name;
    assert.equal(mapNode.id, "n0");
    assert.deepEqual(mapNode.metadata, { name: mapName }, "the outer node carries only the map task's name");
    assert.deepEqual(mapNode.arrayNode.node, {
      id: mapName,
      metadata: { name: mapName, retries: { retries: 2 }, interruptible: true },
      inputs: [{ var: "n", binding: { promise: { nodeId: "start-node", var: "numbers" } } }],
      taskNode: { referenceId: { resourceType: "TASK", project: "p", domain: "d", name: mapName, version: "v1" } },
    });
    assert.equal(mapNode.arrayNode.parallelism, 4);
    assert.equal(mapNode.arrayNode.minSuccessRatio, 1);
    assert.deepEqual(mapNode.arrayNode.isOriginalSubNodeInterface, {}, "a BoolValue holding false: present, as flytekit writes it");
    assert.equal(mapNode.arrayNode.executionMode, undefined, "MINIMAL_STATE, the default, as for a plain @task");

    const closure = workflowClosure(s, "report");
    assert.deepEqual(closure.compiledWorkflow!.subWorkflows!.map((w) => w.template!.id!.name), ["sum-of-squares"]);
    assert.deepEqual(closure.compiledWorkflow!.tasks!.map((x) => x.template!.id!.name).sort(), [mapName, "app.steps.total"]);
  });

  void it("every entity comes after what it refers to: a launch plan after its workflow, a workflow after the launch plans it launches", async () => {
    const s = await serialized();
    const order = entityOrder(s).map((e) => `${e.kind} ${e.entity.name}`);
    const at = (entry: string) => order.indexOf(entry);
    assert.ok(order.slice(0, 3).every((e) => e.startsWith("task ")), order.join(", "));
    assert.ok(at("workflow counting") < at("launchplan counting-fixed"));
    assert.ok(at("launchplan counting-fixed") < at("workflow report"));
    assert.ok(at("workflow report") < at("launchplan report"));
    assert.equal(order.length, 3 + 3 + 4);
    assert.deepEqual(packageEntries(s).map((e) => `${e.kind} ${e.entity}`), order, "the package lists them in that order, for flytectl");
    for (const l of s.launchPlans) await decodeBoth("flyteidl.admin.LaunchPlan", encodeLaunchPlan(l.plan), l.name);
  });
});

describe("the .proto reflection decoder", () => {
  void it("refuses bytes with a field the protos do not declare", async () => {
    const s = await serialized();
    const bytes = encodeTaskSpec(s.tasks[0]!.spec);
    // Field 99, varint 1: a field no TaskSpec has.
    const extra = Buffer.concat([Buffer.from(bytes), Buffer.from([0x98, 0x06, 0x01])]);
    await assert.rejects(decodeBoth("flyteidl.admin.TaskSpec", extra), /field 99 \(wire type 0\) is not declared by .*TaskSpec in the .proto sources/);
  });
});
