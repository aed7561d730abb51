import assert from "node:assert/strict";
import { test } from "node:test";
import { MINIMUM_NODE, nodeVersionProblem } from "../../src/cli/node-version.js";

test("Node versions below the floor are refused with the floor named", () => {
  for (const old of ["20.20.2", "v22.18.0", "22.0.0", "18.19.1", "v21.99.0"]) {
    const problem = nodeVersionProblem(old);
    assert.ok(problem?.includes(MINIMUM_NODE), `${old}: ${problem}`);
  }
});

test("Node versions at or above the floor are accepted", () => {
  for (const ok of ["22.19.0", "v22.19.1", "22.20.0", "24.0.0", "v24.21.0", "26.1.0"]) {
    assert.equal(nodeVersionProblem(ok), undefined, ok);
  }
});

test("the tests run on a Node that imagespec accepts (npm scripts put the pinned node devDependency first)", () => {
  assert.equal(nodeVersionProblem(process.versions.node), undefined, `tests run on Node ${process.versions.node}`);
});
