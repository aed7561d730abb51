// What a real control plane accepts and a real cluster runs: the rules FlyteAdmin and Flyte's
// compiler apply, checked at declaration, and the fields Flyte's executor reads, written as
// flytekit writes them.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ImageSpec } from "../../src/spec/index.js";
import { collectEntities, containerTask, flyteidl, pythonTask, resolveImages, serializeEntities, t, workflow, type Target } from "../../src/workflow/index.js";
import { encodeTaskSpec, encodeWorkflowSpec } from "../../src/workflow/serialize.js";
import { VERSION } from "../../src/version.js";
import { removeDir, tempDir } from "../support/tools.js";

const TARGET: Target = { project: "p", domain: "d", version: "v1" };
const c = flyteidl.core;
const image = "registry.example.com/team/tool:1";

async function serialize(values: unknown[]) {
  const entities = collectEntities(values);
  return serializeEntities(entities, await resolveImages(entities), TARGET);
}

describe("interruptible, node metadata and structured datasets, as flytekit writes them", () => {
  void it("interruptible is written on every node that calls the task (where Flyte's executor reads it), and left unset unless declared", async () => {
    const spot = pythonTask({ module: "app.steps", function: "spot", image, outputs: { o0: t.integer }, interruptible: true, retries: 2, timeout: "5m" });
    const steady = containerTask({ name: "steady", image, command: ["true"], inputs: { n: t.integer }, interruptible: false });
    const plain = containerTask({ name: "plain", image, command: ["true"] });
    const wf = workflow({ name: "wf" }, () => {
      const a = spot();
      steady({ n: a.o0 });
      plain();
    });
    const s = await serialize([wf]);
    const template = flyteidl.admin.WorkflowSpec.decode(encodeWorkflowSpec(s.workflows[0]!.spec)).template!;
    const meta = Object.fromEntries(template.nodes!.map((n) => [n.id, n.metadata!]));
    assert.equal(meta.n0!.interruptible, true);
    assert.equal(meta.n0!.interruptibleValue, "interruptible");
    assert.equal(meta.n0!.name, "spot", "flytekit names a node after the task's short name");
    assert.equal(meta.n0!.retries!.retries, 2);
    assert.equal(Number(meta.n0!.timeout!.seconds), 300);
    assert.equal(meta.n1!.interruptible, false);
    assert.equal(meta.n1!.interruptibleValue, "interruptible", "declared false is written");
    assert.equal(meta.n2!.interruptibleValue, undefined, "undeclared: unset");
    const tasks = Object.fromEntries(s.tasks.map((x) => [x.name, flyteidl.admin.TaskSpec.decode(encodeTaskSpec(x.spec)).template!.metadata!]));
    assert.equal(tasks["app.steps.spot"]!.interruptible, true);
    assert.equal((tasks.plain as { interruptibleValue?: string }).interruptibleValue, undefined);
  });

  void it("t.structuredDataset() declares no format, as flytekit's StructuredDataset", () => {
    assert.deepEqual(t.structuredDataset(), { kind: "structuredDataset", format: "" });
  });
});

describe("node ids the compiler reserves", () => {
  for (const id of ["start-node", "end-node"]) {
    void it(`a node id ${id} is refused`, () => {
      const task = containerTask({ name: "x", image, command: ["true"] });
      assert.throws(() => workflow({ name: "wf" }, () => void task({}, { nodeId: id })), (e: Error & { code: string; hint: string }) => {
        assert.equal(e.code, "INVALID_WORKFLOW");
        assert.equal(e.message, `workflow "wf": node id "${id}" is reserved`);
        assert.match(e.hint, /start-node.*end-node/);
        return true;
      });
    });
  }
});

describe("resource rules FlyteAdmin enforces, checked at declaration", () => {
  const declare = (resources: object) => () => containerTask({ name: "gpu-job", image, command: ["true"], resources });
  void it("GPUs are whole numbers", () => {
    assert.throws(declare({ requests: { gpu: "500m" } }), /task "gpu-job" resources.requests.gpu: "500m" is not a whole number of GPUs/);
    assert.throws(declare({ limits: { gpu: 0.5 } }), /task "gpu-job" resources.limits.gpu: "0.5" is not a whole number of GPUs/);
  });
  void it("a GPU request equals its limit", () => {
    assert.throws(declare({ requests: { gpu: 1 }, limits: { gpu: 2 } }), (e: Error & { hint: string }) => {
      assert.equal(e.message, 'task "gpu-job" resources: the GPU request (1) differs from the GPU limit (2)');
      assert.match(e.hint, /FlyteAdmin requires them equal/);
      return true;
    });
    assert.doesNotThrow(declare({ requests: { gpu: 1 }, limits: { gpu: "1000m" } }));
  });
  void it("a request is not above its limit, compared exactly across units", () => {
    assert.throws(declare({ requests: { cpu: "1500m" }, limits: { cpu: "1.2" } }), /task "gpu-job" resources: the cpu request \(1500m\) is above its limit \(1.2\)/);
    assert.throws(declare({ requests: { memory: "1025Mi" }, limits: { memory: "1Gi" } }), /the memory request \(1025Mi\) is above its limit \(1Gi\)/);
    assert.throws(declare({ requests: { ephemeralStorage: "2G" }, limits: { ephemeralStorage: "1Gi" } }), /the ephemeralStorage request/);
    assert.doesNotThrow(declare({ requests: { cpu: "500m", memory: "1024Mi" }, limits: { cpu: 1, memory: "1Gi" } }));
  });
});

describe("the Python task contract", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await mkdir(join(dir, "src", "app"), { recursive: true });
    await writeFile(join(dir, "src", "app", "__init__.py"), "");
    await writeFile(join(dir, "src", "app", "steps.py"), "from flytekit import task\n\n@task(\n    retries=1,\n)\ndef double(n: int) -> int:\n    return 2 * n\n\ndef helper(n: int) -> int:\n    return n\n");
    await writeFile(join(dir, "requirements.txt"), "pandas==2.2.2\nflytekit==1.16.1  # the SDK\n");
  });
  after(async () => {
    await removeDir(dir);
  });
  const spec = (extra: object = {}) => new ImageSpec({ name: "etl", registry: "registry.example.com/team", baseImage: "python:3.12-slim", sourceRoot: "src", ...extra }, { baseDir: dir });
  const resolve = (task: unknown) => resolveImages(collectEntities([task]));

  void it("outputs are named o0, o1, ... as flytekit names a plain return, unless the function returns a NamedTuple (namedOutputs)", () => {
    assert.throws(() => pythonTask({ module: "app.steps", function: "double", image, outputs: { report: t.string, summary: t.string } }), (e: Error & { hint: string }) => {
      assert.equal(e.message, 'task "app.steps.double" output "report": flytekit names the outputs of a function that returns plain values o0, o1, ... (this one would be o0)');
      assert.match(e.hint, /name the outputs o0, o1, or return a typing.NamedTuple .* namedOutputs: true/);
      return true;
    });
    assert.doesNotThrow(() => pythonTask({ module: "app.steps", function: "double", image, outputs: { o0: t.string, o1: t.string } }));
    assert.doesNotThrow(() => pythonTask({ module: "app.steps", function: "double", image, outputs: { report: t.string }, namedOutputs: true }));
  });

  void it("the module must be among the spec's copied sources, and the attribute a decorated function there", async () => {
    const ok = pythonTask({ module: "app.steps", function: "double", image: spec(), inputs: { n: t.integer }, outputs: { o0: t.integer } });
    await assert.doesNotReject(resolve(ok));
    await assert.rejects(resolve(pythonTask({ module: "app.step", function: "double", image: spec(), inputs: { n: t.integer } })), (e: Error & { code: string; hint: string }) => {
      assert.equal(e.code, "INVALID_PYTHON_MODULE");
      assert.equal(e.message, 'task "app.step.double": module app.step is not in the sources image spec "etl" copies (pyflyte-execute imports it from /root/app/step.py or /root/app/step/__init__.py)');
      return true;
    });
    await assert.rejects(resolve(pythonTask({ module: "app.steps", function: "triple", image: spec() })), { code: "INVALID_PYTHON_FUNCTION" });
    await assert.rejects(resolve(pythonTask({ module: "app.steps", function: "helper", image: spec() })), (e: Error & { code: string; hint: string }) => {
      assert.equal(e.code, "INVALID_PYTHON_TASK");
      assert.match(e.message, /helper in .*steps\.py is a plain function; pyflyte-execute calls the attribute's dispatch_execute/);
      assert.match(e.hint, /@task/);
      return true;
    });
    await assert.rejects(resolve(pythonTask({ module: "app.steps", function: "double", image: spec(), inputs: { count: t.integer } })), (e: Error & { code: string; hint: string }) => {
      assert.equal(e.code, "INVALID_PYTHON_TASK");
      assert.match(e.message, /double in .*steps\.py: no parameter for input "count"; parameter "n" is not a declared input$/);
      assert.match(e.hint, /keyword arguments: name the parameters count/);
      return true;
    });
    await assert.rejects(resolve(pythonTask({ module: "app.steps", function: "double", image: spec(), inputs: { n: t.string } })), /parameter "n" is int, but the input is declared string/);
    // A copy entry lands under workdir with its own path: src/app/steps.py is module src.app.steps.
    const copied = spec({ sourceRoot: undefined, copy: ["src/app"] });
    await assert.doesNotReject(resolve(pythonTask({ module: "src.app.steps", function: "double", image: copied, inputs: { n: t.integer } })));
    await assert.rejects(resolve(pythonTask({ module: "app.steps", function: "double", image: copied, inputs: { n: t.integer } })), { code: "INVALID_PYTHON_MODULE" });
    // A folder copied to `dest/` lands at dest itself (as the files layer lays it), not at dest/<folder>.
    const intoLib = spec({ sourceRoot: undefined, copy: [{ src: "src/app", dest: "lib/" }] });
    await assert.doesNotReject(resolve(pythonTask({ module: "lib.steps", function: "double", image: intoLib, inputs: { n: t.integer } })));
    await assert.rejects(resolve(pythonTask({ module: "lib.app.steps", function: "double", image: intoLib, inputs: { n: t.integer } })), { code: "INVALID_PYTHON_MODULE" });
  });

  void it("the runtime is the flytekit the spec pins (packages or requirements file), or a declared one; unknown is said as imagespec", async () => {
    const runtimeOf = async (task: unknown) => {
      const s = await serialize([task]);
      return { ...flyteidl.admin.TaskSpec.decode(encodeTaskSpec(s.tasks[0]!.spec)).template!.metadata!.runtime };
    };
    const R = c.RuntimeMetadata.RuntimeType;
    const fromPackages = pythonTask({ module: "app.steps", function: "double", image: spec({ packages: ["flytekit==1.16.0"] }), inputs: { n: t.integer } });
    assert.deepEqual(await runtimeOf(fromPackages), { type: R.FLYTE_SDK, version: "1.16.0", flavor: "python" });
    const fromFile = pythonTask({ module: "app.steps", function: "double", image: spec({ requirements: "requirements.txt" }), inputs: { n: t.integer } });
    assert.deepEqual(await runtimeOf(fromFile), { type: R.FLYTE_SDK, version: "1.16.1", flavor: "python" });
    const declared = pythonTask({ module: "m", function: "f", image, flytekitVersion: "1.15.3" });
    assert.deepEqual(await runtimeOf(declared), { type: R.FLYTE_SDK, version: "1.15.3", flavor: "python" });
    const unknown = pythonTask({ module: "app.steps", function: "double", image: spec({ packages: ["flytekit>=1.14"] }), inputs: { n: t.integer } });
    assert.deepEqual(await runtimeOf(unknown), { type: R.OTHER, version: VERSION, flavor: "imagespec" });
    const conflicting = pythonTask({ module: "app.steps", function: "double", image: spec({ packages: ["flytekit==1.16.0"] }), flytekitVersion: "1.15.0", inputs: { n: t.integer } });
    await assert.rejects(resolve(conflicting), /task "app.steps.double": flytekitVersion 1.15.0 differs from the flytekit==1.16.0 its image spec "etl" installs \(packages\)/);
    assert.throws(() => pythonTask({ module: "m", function: "f", image, flytekitVersion: "latest" }), /flytekitVersion "latest" is not a version/);
  });
});
