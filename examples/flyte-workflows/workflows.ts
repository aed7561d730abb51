// Flyte workflows on the image of imagespec.yaml: a containerTask workflow (any command, Flyte's
// raw-container protocol), a pythonTask workflow (flytekit tasks in src/app/steps.py, one mapped
// over a list), and a workflow that runs the first as a sub-workflow and the second through a
// launch plan. See docs/workflow.md.
//
//   imagespec package examples/flyte-workflows/workflows.ts --registry ghcr.io/my-org -o flyte-package.tgz
//   flytectl register files flyte-package.tgz --archive -p flytesnacks -d development --version v1
//   imagespec register examples/flyte-workflows/workflows.ts --registry ghcr.io/my-org -p flytesnacks -d development --dry-run
import { fileURLToPath } from "node:url";
import { containerTask, launchPlan, loadSpecs, mapTask, pythonTask, t, workflow } from "imagespec";

// imagespec.yaml holds one spec; its relative paths (source_root) resolve against its folder.
const image = (await loadSpecs(fileURLToPath(new URL("imagespec.yaml", import.meta.url))))[0]!.spec;

// Requests and limits within FlyteAdmin's default platform limits (CPU 2, memory 1Gi, GPU 1).
const small = { requests: { cpu: "250m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } };

export const countWords = containerTask({
  name: "count-words",
  image,
  // The text reaches the shell as $0, never as shell code.
  command: ["sh", "-c", "printf '%s' \"$0\" | wc -w | tr -d ' \\n' > /var/flyte/outputs/words", "{{.inputs.text}}"],
  inputs: { text: t.string },
  outputs: { words: t.integer },
  resources: small,
});

export const words = workflow({ name: "words", inputs: { text: { type: t.string, default: "hello from a container task" } }, outputs: { words: t.integer } }, (inputs) => ({
  words: countWords({ text: inputs.text }).words,
}));

export const square = pythonTask({ module: "app.steps", function: "square", image, inputs: { n: t.integer }, outputs: { o0: t.integer }, resources: small, retries: 2, interruptible: true });
export const total = pythonTask({ module: "app.steps", function: "total", image, inputs: { values: t.list(t.integer) }, outputs: { o0: t.integer }, resources: small });
export const stats = pythonTask({ module: "app.steps", function: "stats", image, inputs: { values: t.list(t.integer) }, outputs: { count: t.integer, mean: t.float }, namedOutputs: true, resources: small });

export const sumOfSquares = workflow({ name: "sum-of-squares", inputs: { numbers: t.list(t.integer) }, outputs: { total: t.integer, mean: t.float } }, (inputs) => {
  // One square per element, at most 8 at once (an ArrayNode).
  const squares = mapTask(square, { concurrency: 8 })({ n: inputs.numbers });
  return { total: total({ values: squares.o0 }).o0, mean: stats({ values: squares.o0 }).mean };
});

export const firstSquares = launchPlan(sumOfSquares, { name: "sum-of-squares-first-ten", fixedInputs: { numbers: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } });

export const report = workflow({ name: "report", inputs: { text: t.string }, outputs: { words: t.integer, total: t.integer } }, (inputs) => {
  const counted = words({ text: inputs.text });
  const summed = firstSquares();
  return { words: counted.words, total: summed.total };
});

export const daily = launchPlan(report, { name: "report-daily", defaultInputs: { text: "good morning" }, schedule: { cron: "0 6 * * *" } });
