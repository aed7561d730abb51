// Resolution with the host's pip against PEP 503 indexes on 127.0.0.1 serving wheels the tests
// build: the target decides which wheel is picked, the on-disk cache skips pip, and failures
// name the package. (uv is not installed here; its command line and lock parsing are checked.)
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parsePlatform } from "../../src/oci/index.js";
import { PythonError } from "../../src/python/errors.js";
import { resolveRequirements, type ResolveOptions } from "../../src/python/resolve.js";
import { resolutionCachePath, type PythonRequirements, type Resolution } from "../../src/python/resolution.js";
import { pipResolveArgs } from "../../src/python/resolve-pip.js";
import { parsePylock, uvPythonPlatform, uvResolveArgs } from "../../src/python/resolve-uv.js";
import { splitArguments } from "../../src/python/arguments.js";
import { DEFAULT_MUSL, type PythonTarget } from "../../src/python/tags.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { freePort } from "../support/registry.js";
import { removeDir, tempDir } from "../support/tools.js";
import { buildFixtureWheels, buildWheel, type FixtureWheels } from "../support/wheels.js";

const amd64: PythonTarget = { platform: parsePlatform("linux/amd64"), pythonVersion: "3.11" };
const arm64: PythonTarget = { platform: parsePlatform("linux/arm64"), pythonVersion: "3.11" };

let work: string;
let wheels: FixtureWheels;
let index: PypiIndex;

before(async () => {
  work = await tempDir("imagespec-resolve-");
  wheels = await buildFixtureWheels(join(work, "index"));
  index = await startPypiIndex({ dir: wheels.dir });
});
after(async () => {
  await index?.stop();
  await removeDir(work);
});

let cacheCount = 0;
/** A fresh cache per test unless one is given; pip itself (the native resolver has native-resolver.test.ts), never uv (not installed here anyway). */
function options(extra: Partial<ResolveOptions> = {}): ResolveOptions {
  return { cacheDir: join(work, `cache-${++cacheCount}`), uv: false, native: false, ...extra };
}

function byName(resolution: Resolution): Record<string, { version: string; filename: string; sha256: string | undefined; url: string }> {
  return Object.fromEntries(resolution.wheels.map((w) => [w.name, { version: w.version, filename: w.filename, sha256: w.sha256, url: w.url }]));
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<PythonError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PythonError, `expected a PythonError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe("resolveRequirements with pip", () => {
  it("picks the x86-64 wheel, the dependency, and the newest version whose Requires-Python fits, for linux/amd64", async () => {
    const resolution = await resolveRequirements({ packages: ["greet", "fastmath", "modern"], indexUrl: index.url }, amd64, options());
    assert.equal(resolution.resolver, "pip");
    assert.equal(resolution.fromCache, false);
    assert.deepEqual(byName(resolution), {
      fastmath: { version: "2.0", filename: wheels.fastmathAmd64.filename, sha256: wheels.fastmathAmd64.sha256, url: `${index.origin}/files/${wheels.fastmathAmd64.filename}` },
      greet: { version: "1.0", filename: wheels.greet.filename, sha256: wheels.greet.sha256, url: `${index.origin}/files/${wheels.greet.filename}` },
      helper: { version: "1.2", filename: wheels.helper.filename, sha256: wheels.helper.sha256, url: `${index.origin}/files/${wheels.helper.filename}` },
      modern: { version: "1.0", filename: wheels.modernOld.filename, sha256: wheels.modernOld.sha256, url: `${index.origin}/files/${wheels.modernOld.filename}` },
    });
  });

  it("picks the aarch64 wheel for linux/arm64", async () => {
    const resolution = await resolveRequirements({ packages: ["fastmath==2.0"], indexUrl: index.url }, arm64, options());
    assert.deepEqual(
      resolution.wheels.map((w) => [w.filename, w.sha256]),
      [[wheels.fastmathArm64.filename, wheels.fastmathArm64.sha256]],
    );
  });

  it("reads a requirements file and passes pipExtraArgs to pip", async () => {
    const file = join(work, "requirements.txt");
    await writeFile(file, "# what the app needs\ngreet>=1.0\n");
    const all = await resolveRequirements({ packages: [], requirementsFile: file, indexUrl: index.url }, amd64, options());
    assert.deepEqual(all.wheels.map((w) => w.name), ["greet", "helper"]);
    const noDeps = await resolveRequirements({ packages: [], requirementsFile: file, indexUrl: index.url, extraArgs: "--no-deps" }, amd64, options());
    assert.deepEqual(noDeps.wheels.map((w) => w.name), ["greet"]);
  });

  it("uses extra index URLs next to the main index", async () => {
    const mainDir = join(work, "main-index");
    const extraDir = join(work, "extra-index");
    await mkdir(mainDir, { recursive: true });
    await mkdir(extraDir, { recursive: true });
    await buildWheel(mainDir, { name: "app", version: "3.0", requires: ["lib>=1"], files: { "app/__init__.py": "" } });
    await buildWheel(extraDir, { name: "lib", version: "1.5", files: { "lib/__init__.py": "" } });
    const main = await startPypiIndex({ dir: mainDir });
    const extra = await startPypiIndex({ dir: extraDir });
    try {
      const resolution = await resolveRequirements({ packages: ["app"], indexUrl: main.url, extraIndexUrls: [extra.url] }, amd64, options());
      assert.deepEqual(
        resolution.wheels.map((w) => [w.name, new URL(w.url).origin]),
        [
          ["app", main.origin],
          ["lib", extra.origin],
        ],
      );
    } finally {
      await main.stop();
      await extra.stop();
    }
  });

  it("ignores the host's pip configuration unless asked to inherit it", async () => {
    const linksDir = join(work, "find-links");
    const ghost = await buildWheel(linksDir, { name: "ghost", version: "1.0", files: { "ghost/__init__.py": "" } });
    const env = { ...process.env, PIP_FIND_LINKS: linksDir, PIP_NO_INDEX: "1" };
    const isolated = await rejectsWith(resolveRequirements({ packages: ["ghost"], indexUrl: index.url }, amd64, options({ env })), "PYTHON_NO_WHEEL_FOR_TARGET");
    assert.match(isolated.message, /"ghost"/);
    const inherited = await resolveRequirements({ packages: ["ghost"], indexUrl: index.url }, amd64, options({ env, inheritResolverConfig: true }));
    assert.deepEqual(
      inherited.wheels.map((w) => [w.filename, w.url.startsWith("file://"), w.sha256]),
      [[ghost.filename, true, ghost.sha256]],
    );
  });
});

describe("resolution cache", () => {
  it("answers the same inputs from disk without running pip, and refresh runs it again", async () => {
    const cacheDir = join(work, "shared-cache");
    const requirements: PythonRequirements = { packages: ["greet", "fastmath"], indexUrl: index.url };
    const first = await resolveRequirements(requirements, amd64, options({ cacheDir }));
    assert.equal(first.fromCache, false);

    index.resetRequests();
    const second = await resolveRequirements({ ...requirements, packages: ["FastMath", " greet "] }, amd64, options({ cacheDir, python: "/nonexistent/python3" }));
    assert.equal(second.fromCache, true, "package order and name spelling do not change the key");
    assert.equal(second.key, first.key);
    assert.deepEqual(second.wheels, first.wheels);
    assert.deepEqual(index.requests(), [], "a cache hit asks the index nothing");

    const refreshed = await resolveRequirements(requirements, amd64, options({ cacheDir, refresh: true }));
    assert.equal(refreshed.fromCache, false);
    assert.ok(index.requests().some((r) => r.path === "/simple/greet/"), "refresh runs pip, which asks the index");
    assert.deepEqual(refreshed.wheels, first.wheels);
  });

  it("keys on the requirements file's content, the target, the indexes and the extra arguments", async () => {
    const cacheDir = join(work, "key-cache");
    const file = join(work, "keyed-requirements.txt");
    await writeFile(file, "greet\n");
    const base: PythonRequirements = { packages: [], requirementsFile: file, indexUrl: index.url };
    const first = await resolveRequirements(base, amd64, options({ cacheDir }));
    const keys = new Set([first.key]);
    assert.equal((await resolveRequirements(base, amd64, options({ cacheDir }))).fromCache, true);
    await writeFile(file, "greet\nmodern\n");
    const changedFile = await resolveRequirements(base, amd64, options({ cacheDir }));
    assert.equal(changedFile.fromCache, false);
    assert.deepEqual(changedFile.wheels.map((w) => w.name), ["greet", "helper", "modern"]);
    keys.add(changedFile.key);
    for (const [requirements, target] of [
      [base, arm64],
      [{ ...base, extraArgs: "--no-deps" }, amd64],
      [{ ...base, extraIndexUrls: [index.url] }, amd64],
      [{ ...base, packages: ["modern"] }, amd64],
    ] as const) {
      const resolution = await resolveRequirements(requirements, target, options({ cacheDir }));
      assert.equal(resolution.fromCache, false);
      keys.add(resolution.key);
    }
    assert.equal(keys.size, 6);
    const cached = JSON.parse(await readFile(resolutionCachePath(cacheDir, changedFile.key), "utf8")) as { wheels: unknown[] };
    assert.equal(cached.wheels.length, 3);
  });

  it("does not run anything when there is nothing to resolve", async () => {
    const file = join(work, "empty-requirements.txt");
    await writeFile(file, "# nothing yet\n\n");
    const resolution = await resolveRequirements({ packages: [], requirementsFile: file }, amd64, options({ python: "/nonexistent/python3" }));
    assert.deepEqual(resolution.wheels, []);
  });
});

describe("resolution failures", () => {
  it("names a package that has no wheel anywhere and suggests the Dockerfile builder", async () => {
    const error = await rejectsWith(resolveRequirements({ packages: ["no-such-package>=1"], indexUrl: index.url }, amd64, options()), "PYTHON_NO_WHEEL_FOR_TARGET");
    assert.match(error.message, /"no-such-package"/);
    assert.match(error.message, /linux\/amd64, CPython 3\.11, glibc 2\.36/);
    assert.match(error.hint ?? "", /builder: buildah or docker/);
  });

  it("names a package that has wheels, but none for linux/arm64", async () => {
    await resolveRequirements({ packages: ["x86only"], indexUrl: index.url }, amd64, options());
    const error = await rejectsWith(resolveRequirements({ packages: ["x86only"], indexUrl: index.url }, arm64, options()), "PYTHON_NO_WHEEL_FOR_TARGET");
    assert.match(error.message, /"x86only"/);
    assert.match(error.message, /linux\/arm64/);
  });

  it("reports an unreachable index as unreachable, with pip's connection lines and no password, not as a missing wheel", async () => {
    const port = await freePort(); // nothing listens there
    const url = `http://me:s3cr3t-index@127.0.0.1:${port}/simple`;
    const error = await rejectsWith(resolveRequirements({ packages: ["six"], indexUrl: url, extraArgs: "--retries 1" }, amd64, options()), "PYTHON_INDEX_UNREACHABLE");
    assert.match(error.message, new RegExp(`pip could not reach the package index http://\\[redacted\\]@127\\.0\\.0\\.1:${port}/simple`));
    assert.match(error.message, /Connection refused/, "pip's own connection error is kept");
    assert.doesNotMatch(error.message, /no installable wheel/);
    assert.ok(!`${error.message}${error.hint}`.includes("s3cr3t-index"), error.message);
    assert.match(error.hint ?? "", /pip_index/);
  });

  it("says when the interpreter that runs pip is missing", async () => {
    await rejectsWith(resolveRequirements({ packages: ["greet"], indexUrl: index.url }, amd64, options({ python: "/nonexistent/python3" })), "PYTHON_TOOL_MISSING");
  });

  it("reports a missing requirements file by path", async () => {
    const error = await rejectsWith(resolveRequirements({ packages: [], requirementsFile: join(work, "nope.txt") }, amd64, options()), "PYTHON_RESOLUTION_FAILED");
    assert.match(error.message, /nope\.txt/);
  });
});

describe("resolver command lines", () => {
  const run = { target: arm64, workDir: "/tmp/w", inheritConfig: false };
  const requirements: PythonRequirements = {
    packages: ["numpy>=1.26"],
    requirementsFile: "/src/requirements.txt",
    indexUrl: "https://idx.example/simple",
    extraIndexUrls: ["https://a.example/simple", "https://b.example/simple"],
    extraArgs: `--pre --trusted-host "my host"`,
  };

  it("pip: isolated, dry run with a report, wheels only, the target's tags, indexes, extra args, then requirements", () => {
    const args = pipResolveArgs({ ...run, requirements });
    assert.deepEqual(args.slice(0, 8), ["-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed", "--report", "/tmp/w/report.json"]);
    assert.ok(args.includes("--only-binary=:all:"));
    assert.equal(args[args.indexOf("--platform") + 1], "manylinux_2_36_aarch64");
    assert.equal(args[args.indexOf("--abi") + 1], "cp311");
    assert.equal(args[args.indexOf("--target") + 1], "/tmp/w/target");
    assert.deepEqual(args.slice(args.indexOf("--index-url"), args.indexOf("--index-url") + 6), [
      "--index-url",
      "https://idx.example/simple",
      "--extra-index-url",
      "https://a.example/simple",
      "--extra-index-url",
      "https://b.example/simple",
    ]);
    assert.deepEqual(args.slice(-7), ["--pre", "--trusted-host", "my host", "-r", "/src/requirements.txt", "--", "numpy>=1.26"]);
  });

  it("uv: pip compile to pylock.toml for the target's platform triple, without uv's own config", () => {
    const args = uvResolveArgs({ ...run, requirements }, "/tmp/w/requirements.in");
    assert.deepEqual(args.slice(0, 5), ["pip", "compile", "/tmp/w/requirements.in", "--output-file", "/tmp/w/pylock.toml"]);
    assert.equal(args[args.indexOf("--python-platform") + 1], "aarch64-manylinux_2_36");
    assert.equal(args[args.indexOf("--python-version") + 1], "3.11");
    assert.ok(args.includes("--no-config"));
    assert.equal(uvPythonPlatform({ ...amd64, libc: DEFAULT_MUSL }), "x86_64-unknown-linux-musl");
  });

  it("splits pipExtraArgs like a shell, without expanding anything", () => {
    assert.deepEqual(splitArguments(` --pre  --config-settings 'a=b c' "x\\"y" $HOME back\\ slash `), ["--pre", "--config-settings", "a=b c", 'x"y', "$HOME", "back slash"]);
    assert.throws(() => splitArguments("--pre 'open"), (e: unknown) => e instanceof PythonError && /unterminated/.test(e.message));
  });
});

describe("parsePylock (uv's output)", () => {
  const lock = `
lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11"

[[packages]]
name = "FastMath"
version = "2.0"
index = "https://idx.example/simple"
wheels = [
  { url = "https://user:secret@files.example/fastmath-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", hashes = { sha256 = "AA${"a".repeat(62)}" } },
  { url = "https://files.example/fastmath-2.0-cp311-cp311-manylinux_2_28_aarch64.whl", hashes = { sha256 = "${"b".repeat(64)}" } },
  { url = "https://files.example/fastmath-2.0-cp311-cp311-manylinux_2_17_aarch64.whl", hashes = { sha256 = "${"c".repeat(64)}" } },
]

[[packages]]
name = "helper"
version = "1.2"
wheels = [{ name = "helper-1.2-py3-none-any.whl", path = "wheels/helper-1.2-py3-none-any.whl", hashes = { sha256 = "${"d".repeat(64)}" } }]
`;

  it("picks each package's best wheel for the target and drops credentials from URLs", () => {
    assert.deepEqual(parsePylock(lock, arm64, "/locks"), [
      { name: "fastmath", version: "2.0", url: "https://files.example/fastmath-2.0-cp311-cp311-manylinux_2_28_aarch64.whl", sha256: "b".repeat(64), filename: "fastmath-2.0-cp311-cp311-manylinux_2_28_aarch64.whl" },
      { name: "helper", version: "1.2", url: "file:///locks/wheels/helper-1.2-py3-none-any.whl", sha256: "d".repeat(64), filename: "helper-1.2-py3-none-any.whl" },
    ]);
    const x86 = parsePylock(lock, amd64, "/locks")[0]!;
    assert.equal(x86.url, "https://files.example/fastmath-2.0-cp311-cp311-manylinux_2_17_x86_64.whl");
    assert.equal(x86.sha256, `aa${"a".repeat(62)}`);
  });

  it("names a package with no wheel for the target", () => {
    assert.throws(
      () => parsePylock(lock, { ...arm64, libc: DEFAULT_MUSL }, "/locks"),
      (e: unknown) => e instanceof PythonError && e.code === "PYTHON_NO_WHEEL_FOR_TARGET" && /"fastmath"/.test(e.message),
    );
  });
});
