// Lock files as requirements: exactly the locked set for the target, the lock's hash checked on
// download, nothing resolved (no pip, no uv, no index page for a uv.lock). The wheels are built
// by the test and served from a PEP 503 index on 127.0.0.1; the locks come from support/locks.ts.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Platform } from "../../src/oci/index.js";
import { downloadWheels, PythonError, resolveRequirements, type PythonTarget } from "../../src/python/index.js";
import { lockedWheels } from "../../src/python/lock.js";
import { evaluateMarker, markerEnvironment } from "../../src/python/markers.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { removeDir, tempDir } from "../support/tools.js";
import { fileUrl, POETRY_PYPROJECT, poetryLock, UV_PYPROJECT, uvLock } from "../support/locks.js";
import { buildFixtureWheels, type FixtureWheels } from "../support/wheels.js";

const AMD64: Platform = { os: "linux", architecture: "amd64" };
const ARM64: Platform = { os: "linux", architecture: "arm64" };
const target = (platform: Platform, pythonVersion = "3.11"): PythonTarget => ({ platform, pythonVersion });

let work: string;
let wheels: FixtureWheels;
let index: PypiIndex;

before(async () => {
  work = await tempDir("imagespec-lock-");
  wheels = await buildFixtureWheels(join(work, "wheels"));
  index = await startPypiIndex({ dir: wheels.dir });
});
after(async () => {
  await index?.stop();
  if (work) await removeDir(work);
});

async function project(name: string, lockName: string, lock: string, pyproject: string | undefined): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, lockName), lock);
  if (pyproject !== undefined) await writeFile(join(dir, "pyproject.toml"), pyproject);
  return join(dir, lockName);
}

const picked = (list: { filename: string }[]) => list.map((w) => w.filename);

void describe("uv.lock", () => {
  void it("gives exactly the locked set for each target: markers for the target, no dev group, not the project itself", async () => {
    const lock = await project("uv", "uv.lock", uvLock(wheels, index), UV_PYPROJECT);
    index.resetRequests();
    assert.deepEqual(picked(await lockedWheels(lock, target(AMD64))), [wheels.fastmathAmd64.filename, wheels.greet.filename, wheels.helper.filename, wheels.x86only.filename]);
    assert.deepEqual(picked(await lockedWheels(lock, target(ARM64))), [wheels.fastmathArm64.filename, wheels.greet.filename, wheels.helper.filename]);
    // The lock names every URL: the index is not asked anything.
    assert.deepEqual(index.requests(), []);
  });

  void it("is the resolution: resolveRequirements runs no resolver and reports the lock", async () => {
    const lock = await project("uv-resolve", "uv.lock", uvLock(wheels, index), UV_PYPROJECT);
    // No pip and no uv on PATH: a resolver run would fail.
    const resolution = await resolveRequirements({ packages: [], requirementsFile: lock }, target(AMD64), { cacheDir: join(work, "cache"), uv: false, python: "/nonexistent/python3", env: { PATH: "/nonexistent" } });
    assert.equal(resolution.resolver, "uv.lock");
    assert.equal(resolution.wheels.length, 4);
    assert.equal(resolution.wheels.find((w) => w.name === "helper")?.sha256, wheels.helper.sha256);
  });

  void it("a file whose bytes do not match the lock's hash is refused", async () => {
    const lock = await project("uv-hash", "uv.lock", uvLock(wheels, index, { helperHash: "0".repeat(64) }), UV_PYPROJECT);
    const locked = await lockedWheels(lock, target(AMD64));
    await assert.rejects(downloadWheels(locked, { cacheDir: join(work, "cache-hash") }), (error: unknown) => {
      assert.ok(error instanceof PythonError);
      assert.equal(error.code, "WHEEL_HASH_MISMATCH");
      assert.match(error.message, /helper-1\.2-py3-none-any\.whl/);
      return true;
    });
  });

  void it("a Python the lock does not allow is an error naming both", async () => {
    const lock = await project("uv-python", "uv.lock", uvLock(wheels, index, { requiresPython: ">=3.12" }), UV_PYPROJECT);
    await assert.rejects(lockedWheels(lock, target(AMD64)), /requires Python >=3\.12, but the image's Python is 3\.11/);
  });

  void it("a locked package without a wheel for the target is an error naming it and the target", async () => {
    const lock = await project("uv-nowheel", "uv.lock", uvLock(wheels, index).replace(`{ name = "x86only", marker = "platform_machine == 'x86_64'" }`, `{ name = "x86only" }`), UV_PYPROJECT);
    await assert.rejects(lockedWheels(lock, target(ARM64)), (error: unknown) => {
      assert.ok(error instanceof PythonError);
      assert.equal(error.code, "PYTHON_NO_WHEEL_FOR_TARGET");
      assert.match(error.message, /locks x86only 1\.0, but none of its locked wheels runs on linux\/arm64/);
      return true;
    });
  });

  void it("a lock without its pyproject.toml is refused", async () => {
    const lock = await project("uv-alone", "uv.lock", uvLock(wheels, index), undefined);
    await assert.rejects(lockedWheels(lock, target(AMD64)), (error: unknown) => error instanceof PythonError && error.code === "PYTHON_LOCK_INVALID" && /pyproject\.toml/.test(error.message));
  });
});

void describe("poetry.lock", () => {
  void it("gives every non-optional group's packages whose markers hold, with files found on the index", async () => {
    const lock = await project("poetry", "poetry.lock", poetryLock(wheels), POETRY_PYPROJECT);
    const amd64 = await lockedWheels(lock, target(AMD64), { indexUrl: index.url });
    // main and dev (poetry install installs dev unless told not to); docs is optional.
    assert.deepEqual(picked(amd64), [wheels.fastmathAmd64.filename, wheels.greet.filename, wheels.helper.filename, wheels.modernOld.filename]);
    assert.equal(amd64.find((w) => w.name === "greet")?.url, fileUrl(index, wheels.greet));
    assert.deepEqual(picked(await lockedWheels(lock, target(ARM64), { indexUrl: index.url })), [wheels.fastmathArm64.filename, wheels.greet.filename, wheels.helper.filename, wheels.modernOld.filename]);
  });

  void it("a lock from Poetry 1 (no groups per package) is refused with what to do", async () => {
    const lock = await project("poetry-old", "poetry.lock", poetryLock(wheels).replace('lock-version = "2.1"', 'lock-version = "2.0"'), POETRY_PYPROJECT);
    await assert.rejects(lockedWheels(lock, target(AMD64), { indexUrl: index.url }), /lock-version "2\.0"; imagespec reads 2\.1 and later/);
  });
});

void describe("markers for the target", () => {
  void it("evaluate against the image's platform and Python, not the host's", () => {
    const arm = markerEnvironment(target(ARM64, "3.12"));
    assert.equal(evaluateMarker("platform_machine == 'aarch64' and python_version >= '3.12'", arm), true);
    assert.equal(evaluateMarker("platform_machine == 'x86_64' or sys_platform == 'win32'", arm), false);
    assert.equal(evaluateMarker("python_full_version < '3.12.1' and (os_name == 'posix')", arm), true);
    assert.equal(evaluateMarker("python_version == '3.1'", arm), false);
    assert.equal(evaluateMarker("extra == 'gpu'", arm, ["gpu"]), true);
    assert.throws(() => evaluateMarker("python_versoin >= '3'", arm), /unknown marker variable python_versoin/);
  });
});
