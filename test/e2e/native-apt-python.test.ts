// Python from apt in the same native build: a plain Debian bookworm base (debootstrap minbase +
// ca-certificates, no Python; cached fixture), `apt_packages: [python3]` and Python packages. The
// apt step lays python3 down from deb.debian.org, the Python step finds that interpreter in the apt
// layer and installs the wheels for it; podman runs the result.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { buildSpec, type BuildEvent } from "../../src/build/index.js";
import type { Registry } from "../../src/registry/index.js";
import { ImageSpec } from "../../src/spec/index.js";
import { registryFor } from "../registry/util.js";
import { debianPythonBase, testCacheRoot } from "../support/debian-base.js";
import { podmanRun } from "../support/podman.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, tempDir } from "../support/tools.js";
import { buildFixtureWheels } from "../support/wheels.js";

describe("native builder: Python laid down by apt in the same build", { timeout: 600_000 }, () => {
  let reg: TestRegistry;
  let registry: Registry;
  let index: PypiIndex;
  let work: string;
  let cache: string;

  before(async () => {
    const plain = await debianPythonBase({ arch: "amd64", packages: ["ca-certificates"] });
    reg = await startRegistry({ mode: "plain" });
    registry = registryFor(reg).registry;
    work = await tempDir("imagespec-e2e-apt-python-");
    const wheels = await buildFixtureWheels(join(work, "wheels"));
    index = await startPypiIndex({ dir: wheels.dir });
    // apt's indexes and .debs are kept across runs, as in native-apt.test.ts.
    cache = join(work, "cache");
    const kept = join(testCacheRoot(), "apt-e2e", "apt");
    await mkdir(kept, { recursive: true });
    await mkdir(cache, { recursive: true });
    await symlink(kept, join(cache, "apt"));
    await registry.copy(plain.ref, `${reg.host}/debian/plain:12`);
  });
  after(async () => {
    await index?.stop();
    await registry?.close();
    await reg?.stop();
    if (work) await removeDir(work);
  });

  it("apt_packages: [python3] on a base without Python, then packages: the wheels go to the apt-installed interpreter", async () => {
    const spec = new ImageSpec(
      { name: "apt-python", registry: `${reg.host}/team`, baseImage: `${reg.host}/debian/plain:12`, aptPackages: ["python3"], packages: ["greet"], pipIndex: index.url },
      { baseDir: work },
    );
    const events: BuildEvent[] = [];
    const result = await buildSpec(spec, { registry, cacheDir: cache, onEvent: (e) => events.push(e) });
    assert.equal(result.status, "built");
    const python = events.filter((e): e is Extract<BuildEvent, { kind: "python" }> => e.kind === "python");
    assert.deepEqual(python.map((e) => [e.interpreter, e.wheels]), [["/usr/bin/python3.11", 2]]);
    const ran = await podmanRun(result.image, ["/bin/sh", "-c", "python3 -c 'import greet; print(greet.greeting(\"apt\"))' && greet bob; echo \"exit $?\""]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.deepEqual(ran.stdout.trim().split("\n"), ["HELLO APT!", "HELLO BOB!", "exit 3"]);
  });
});
