// cuda and cudnn: validated, hashed, mapped to NVIDIA's runtime wheels for the native builder and to
// conda packages (flytekit's cuda=<v>, cudnn=<v>) for the Dockerfile builders.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { planBuild, specDockerfile } from "../../src/build/index.js";
import { pythonRequirements } from "../../src/build/plan.js";
import { ValidationError } from "../../src/errors.js";
import { gpuRequirements } from "../../src/python/index.js";
import { canonicalSpec, ImageSpec } from "../../src/spec/index.js";

const BASE = "registry.example.com/base/python:3.11";

function issuesOf(input: Record<string, unknown>): { path: string; message: string }[] {
  try {
    new ImageSpec({ name: "gpu", baseImage: BASE, ...input } as never);
  } catch (error) {
    assert.ok(error instanceof ValidationError);
    return error.issues.map((i) => ({ path: i.path, message: i.message }));
  }
  assert.fail("the spec was accepted");
}

describe("cuda and cudnn", () => {
  it("map to NVIDIA's runtime wheels of the CUDA major, pinned by version prefix", () => {
    assert.deepEqual(gpuRequirements("12.4.1", "9"), ["nvidia-cuda-runtime-cu12==12.4.*", "nvidia-cudnn-cu12==9.*"]);
    assert.deepEqual(gpuRequirements("11.8", "8.9.2"), ["nvidia-cuda-runtime-cu11==11.8.*", "nvidia-cudnn-cu11==8.9.2.*"]);
    assert.deepEqual(gpuRequirements("12", undefined), ["nvidia-cuda-runtime-cu12==12.*"]);
    assert.deepEqual(gpuRequirements(undefined, undefined), []);
  });

  it("the native plan installs the wheels with the spec's packages (a spec with only cuda gets a Python step)", async () => {
    const spec = new ImageSpec({ name: "gpu", baseImage: BASE, cuda: "12.4", cudnn: "9.1", packages: ["numpy"] });
    assert.deepEqual(pythonRequirements(spec)?.packages, ["numpy", "nvidia-cuda-runtime-cu12==12.4.*", "nvidia-cudnn-cu12==9.1.*"]);
    const only = await planBuild(new ImageSpec({ name: "gpu", baseImage: BASE, cuda: "12.4" }), { preview: false });
    assert.deepEqual(only.steps.map((s) => s.kind), ["base", "python", "config"]);
  });

  it("the Dockerfile installs them with conda, as flytekit's builder did, and the Python packages into that env", async () => {
    const spec = new ImageSpec({ name: "gpu", baseImage: BASE, cuda: "12.4", cudnn: "9", pythonVersion: "3.11", packages: ["numpy"] });
    const { dockerfile } = await specDockerfile(spec);
    const text = dockerfile.replace(/ \\\n\s*/g, " ");
    assert.match(text, /micromamba create -y --root-prefix \/opt\/micromamba --prefix \/opt\/micromamba\/envs\/runtime -c conda-forge python=3\.11 cuda=12\.4 cudnn=9\n/);
    assert.match(text, /uv pip install --python \/opt\/micromamba\/envs\/runtime\/bin\/python -r/);
    assert.doesNotMatch(text, /nvidia-cuda-runtime/);
  });

  it("are part of the tag", async () => {
    const plain = await canonicalSpec(new ImageSpec({ name: "gpu", baseImage: BASE }));
    const gpu = await canonicalSpec(new ImageSpec({ name: "gpu", baseImage: BASE, cuda: "12.4", cudnn: "9" }));
    assert.equal(plain.cuda, undefined);
    assert.equal(gpu.cuda, "12.4");
    assert.equal(gpu.cudnn, "9");
  });

  it("versions without wheels, cudnn without cuda, and cuda with a lock are refused, each naming its field", () => {
    assert.deepEqual(issuesOf({ cuda: "10.2" }).map((i) => i.path), ["cuda"]);
    assert.match(issuesOf({ cuda: "12.x" })[0]!.message, /not a CUDA version imagespec installs: expected 11\.x or 12\.x/);
    assert.match(issuesOf({ cuda: "12.4", cudnn: "7" })[0]!.message, /not a cuDNN version imagespec installs/);
    assert.deepEqual(issuesOf({ cudnn: "9" }), [{ path: "cudnn", message: "needs cuda: the CUDA version picks the cuDNN build" }]);
    assert.deepEqual(issuesOf({ cuda: "12.4", requirements: "uv.lock" }).map((i) => i.path), ["cuda"]);
  });
});
