// PEP 508 markers for the target: versions compared by PEP 440 (pre-releases and padding
// included), strings otherwise, either side may hold the variable, and extras as requested.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parsePlatform } from "../../src/oci/index.js";
import { evaluateMarker, markerEnvironment } from "../../src/python/markers.js";
import { PythonError } from "../../src/python/errors.js";

const env = markerEnvironment({ platform: parsePlatform("linux/arm64"), pythonVersion: "3.11.7" });

describe("markers", () => {
  it("compares versions by PEP 440, with the variable on either side", () => {
    assert.equal(evaluateMarker("python_full_version >= '3.11.0rc1'", env), true);
    assert.equal(evaluateMarker("python_full_version < '3.11.7.post1'", env), true);
    assert.equal(evaluateMarker("python_version == '3.11.0'", env), true, "3.11 == 3.11.0 (padding)");
    assert.equal(evaluateMarker("python_version == '3.*'", env), true);
    assert.equal(evaluateMarker("python_version ~= '3.9'", env), true);
    assert.equal(evaluateMarker("'3.12' > python_version", env), true);
    assert.equal(evaluateMarker("python_version > '3.11'", env), false);
    assert.equal(evaluateMarker("python_version === '3.11'", env), true);
  });

  it("compares other values as strings, and `in` as a substring test", () => {
    assert.equal(evaluateMarker("platform_machine == 'aarch64' and sys_platform != 'win32'", env), true);
    assert.equal(evaluateMarker("'linux' in sys_platform", env), true);
    assert.equal(evaluateMarker("platform_machine not in 'x86_64 AMD64'", env), true);
    assert.equal(evaluateMarker("platform_release >= '5'", env), false, "an empty release is no version: the comparison is false");
  });

  it("holds `extra` markers only for requested extras, compared by normalised name", () => {
    assert.equal(evaluateMarker("extra == 'socks'", env), false);
    assert.equal(evaluateMarker("extra == 'socks'", env, ["socks"]), true);
    assert.equal(evaluateMarker("extra == 'Test_Extra'", env, ["test-extra"]), true);
    assert.equal(evaluateMarker("(extra == 'a' or extra == 'b') and python_version >= '3.8'", env, ["b"]), true);
    assert.equal(evaluateMarker("extra == 'a' and python_version < '3'", env, ["a"]), false);
  });

  it("names the marker and the problem when it cannot be read", () => {
    for (const [marker, problem] of [
      ["python_version >= ", /expected a value/],
      ["shoe_size == '9'", /unknown marker variable shoe_size/],
      ["(python_version == '3.11'", /a \( is not closed/],
      ["python_version < 'banana'", /the marker "3\.11 < banana": "3\.11" or "banana" is not a version/],
    ] as const) {
      assert.throws(() => evaluateMarker(marker, env), (error: unknown) => error instanceof PythonError && /^the marker "/.test(error.message) && problem.test(error.message), marker);
    }
  });
});
