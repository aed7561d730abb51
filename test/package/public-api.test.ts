// The root entry point's names, pinned: what `import { ... } from "imagespec"` offers is a decision,
// so adding or removing a name fails here until this list is changed with it (see src/index.ts).
// Names are read by the TypeScript compiler, so types count as much as values.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../support/cli.js";
import { exportedNames } from "../support/exported-names.js";

const ROOT_EXPORTS = [
  "AdminClient",
  "AdminOptions",
  "BuildEvent",
  "BuildResult",
  "Builder",
  "CacheSettings",
  "ContainerTaskOptions",
  "CopyInput",
  "Credential",
  "CredentialKind",
  "FlyteType",
  "ImageBuilder",
  "ImageBuilderOptions",
  "ImageSpec",
  "ImageSpecFields",
  "ImageSpecInput",
  "ImageSpecOptions",
  "ImagespecError",
  "LaunchPlan",
  "LaunchPlanOptions",
  "LoadedSpec",
  "LoadedWorkflows",
  "MapTask",
  "MapTaskOptions",
  "PythonTaskOptions",
  "RegisterEvent",
  "RegisterOptions",
  "RegisterResult",
  "Registry",
  "RegistryError",
  "RegistryOptions",
  "Resources",
  "Schedule",
  "Secret",
  "Session",
  "SessionOptions",
  "SpecFileError",
  "Task",
  "ValidationError",
  "ValidationIssue",
  "Workflow",
  "WorkflowError",
  "WorkflowOptions",
  "buildImage",
  "containerTask",
  "createSession",
  "imageName",
  "imageReference",
  "launchPlan",
  "loadSpecs",
  "loadWorkflowFile",
  "mapTask",
  "pythonTask",
  "registerEntities",
  "specTag",
  "t",
  "workflow",
];

describe("the root export", () => {
  it("offers exactly the pinned names", () => {
    const names = exportedNames(join(ROOT, "src", "index.ts"));
    const added = names.filter((n) => !ROOT_EXPORTS.includes(n));
    const removed = ROOT_EXPORTS.filter((n) => !names.includes(n));
    assert.deepEqual({ added, removed }, { added: [], removed: [] }, "src/index.ts changed the public API: update ROOT_EXPORTS in this test with it");
    assert.deepEqual(names, [...ROOT_EXPORTS].sort());
  });

  it("exports at run time the values of that list and nothing else", async () => {
    const runtime = Object.keys(await import("../../src/index.js")).sort();
    assert.ok(runtime.length > 0);
    for (const name of runtime) assert.ok(ROOT_EXPORTS.includes(name), `${name} is exported at run time but not pinned`);
    // Shadowing a global (as a ReferenceError class once did) is not allowed at the root.
    for (const name of runtime) assert.ok(!(name in globalThis), `${name} shadows a global`);
  });
});
