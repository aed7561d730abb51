// cuda/cudnn on the native builder, end to end: stand-ins for NVIDIA's runtime wheels (same names,
// version numbering and platform tags; a text file where the .so would be) on a PEP 503 index on
// 127.0.0.1, the Debian python3 base (cached fixture) in a local registry, built for amd64 and arm64
// with nothing run, the amd64 image run with podman.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildSpec, type BuildEvent } from "../../src/build/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { publishDebianPythonBase } from "../support/debian-base.js";
import { podmanRun } from "../support/podman.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, tempDir } from "../support/tools.js";
import { buildWheel } from "../support/wheels.js";

describe("native builder: cuda and cudnn as NVIDIA's runtime wheels", { timeout: 300_000 }, () => {
  let reg: TestRegistry;
  let registry: Registry;
  let index: PypiIndex;
  let work: string;
  let baseReference: string;
  const base = () => baseReference;

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir("imagespec-e2e-gpu-");
    const dir = join(work, "wheels");
    const nvidia = async (name: string, module: string, version: string, library: string) => {
      for (const arch of ["x86_64", "aarch64"]) {
        await buildWheel(dir, {
          name,
          version,
          tag: `py3-none-manylinux2014_${arch}`,
          files: { [`nvidia/${module}/__init__.py`]: `__version__ = "${version}"\n`, [`nvidia/${module}/lib/${library}`]: `${arch} stand-in\n` },
        });
      }
    };
    await nvidia("nvidia-cuda-runtime-cu12", "cuda_runtime", "12.4.127", "libcudart.so.12");
    await nvidia("nvidia-cuda-runtime-cu12", "cuda_runtime", "12.6.77", "libcudart.so.12");
    await nvidia("nvidia-cudnn-cu12", "cudnn", "9.1.0.70", "libcudnn.so.9");
    await nvidia("nvidia-cudnn-cu12", "cudnn", "8.9.7.29", "libcudnn.so.8");
    index = await startPypiIndex({ dir });
    baseReference = await publishDebianPythonBase(registry, reg.host);
  });
  after(async () => {
    await index?.stop();
    await registry?.close();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  it("cuda 12.4 and cudnn 9 install the matching wheels for each platform; the amd64 image has them", async () => {
    const spec = new ImageSpec(
      { name: "gpu", registry: `${reg.host}/team`, baseImage: base(), cuda: "12.4", cudnn: "9", pipIndex: index.url, platform: "linux/amd64,linux/arm64" },
      { baseDir: work },
    );
    const events: BuildEvent[] = [];
    const result = await buildSpec(spec, { registry, cacheDir: join(work, "cache"), onEvent: (e) => events.push(e) });
    assert.equal(result.status, "built");
    const python = events.filter((e): e is Extract<BuildEvent, { kind: "python" }> => e.kind === "python").map((e) => [e.platform, e.wheels]).sort();
    assert.deepEqual(python, [["linux/amd64", 2], ["linux/arm64", 2]]);
    const script = "python3 -c 'import nvidia.cuda_runtime as c, nvidia.cudnn as d; print(c.__version__, d.__version__)' && cat /usr/local/lib/python3.11/dist-packages/nvidia/cuda_runtime/lib/libcudart.so.12";
    const ran = await podmanRun(result.image, ["/bin/sh", "-c", script], { platform: "linux/amd64" });
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(ran.stdout.trim().split("\n"), ["12.4.127 9.1.0.70", "x86_64 stand-in"]);
  });
});
