// Interpreter discovery from base-image listings shaped like the real images: python.org
// (python:3.x-slim), Debian's python3 package, a venv on PATH, conda, and the failures.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PythonError } from "../../src/python/errors.js";
import { discoverPython, type BaseImagePath } from "../../src/python/interpreter.js";

const dir = (path: string): BaseImagePath => ({ path, type: "dir" });
const file = (path: string): BaseImagePath => ({ path, type: "file" });
const link = (path: string, linkTarget: string): BaseImagePath => ({ path, type: "symlink", linkTarget });

/** Debian 12 with merged /usr and no Python. */
const debianBase: BaseImagePath[] = [
  link("bin", "usr/bin"),
  link("lib", "usr/lib"),
  dir("usr"),
  dir("usr/bin"),
  file("usr/bin/bash"),
  dir("usr/lib"),
  dir("usr/local"),
  dir("usr/local/bin"),
  dir("usr/local/lib"),
  file("etc/debian_version"),
];

/** python:3.X-slim: a python.org build in /usr/local on top of Debian. */
function pythonOrg(version: string): BaseImagePath[] {
  return [
    ...debianBase,
    file(`usr/local/bin/python${version}`),
    link("usr/local/bin/python3", `python${version}`),
    link("usr/local/bin/python", "python3"),
    file("usr/local/bin/pip3"),
    dir(`usr/local/lib/python${version}`),
    file(`usr/local/lib/python${version}/os.py`),
    dir(`usr/local/lib/python${version}/site-packages`),
    dir(`usr/local/lib/python${version}/site-packages/pip`),
  ];
}
const pythonOrgEnv = ["PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "PYTHON_VERSION=3.11.9"];

/** debian:bookworm + apt-get install python3. */
const debianPython: BaseImagePath[] = [
  ...debianBase,
  file("usr/bin/python3.11"),
  link("usr/bin/python3", "python3.11"),
  dir("usr/lib/python3.11"),
  file("usr/lib/python3.11/EXTERNALLY-MANAGED"),
  dir("usr/lib/python3/dist-packages"),
];

function expectError(fn: () => unknown, code: string): PythonError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PythonError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe("discoverPython", () => {
  it("finds a python.org build in /usr/local and its site-packages", () => {
    const found = discoverPython(pythonOrg("3.11"), pythonOrgEnv, { pythonVersion: "3.11" });
    assert.deepEqual(found, {
      layout: "python.org",
      version: "3.11",
      prefix: "/usr/local",
      interpreter: "/usr/local/bin/python3.11",
      sitePackages: "/usr/local/lib/python3.11/site-packages",
      scheme: {
        purelib: "/usr/local/lib/python3.11/site-packages",
        platlib: "/usr/local/lib/python3.11/site-packages",
        scripts: "/usr/local/bin",
        data: "/usr/local",
        headers: "/usr/local/include/python3.11",
      },
      externallyManaged: false,
    });
  });

  it("finds Debian's python3 and installs where Debian's pip would, in /usr/local/lib/python3.X/dist-packages", () => {
    const found = discoverPython(debianPython, undefined);
    assert.equal(found.layout, "debian");
    assert.equal(found.interpreter, "/usr/bin/python3.11");
    assert.equal(found.version, "3.11");
    assert.equal(found.sitePackages, "/usr/local/lib/python3.11/dist-packages");
    assert.equal(found.systemSitePackages, "/usr/lib/python3/dist-packages");
    assert.equal(found.scheme.scripts, "/usr/local/bin");
    assert.equal(found.externallyManaged, true, "Debian 12 marks its Python EXTERNALLY-MANAGED");
  });

  it("follows the merged-/usr symlink when PATH names /bin first", () => {
    const found = discoverPython(debianPython, ["PATH=/bin:/usr/bin"]);
    assert.equal(found.layout, "debian");
    assert.equal(found.interpreter, "/usr/bin/python3.11");
  });

  it("prefers a virtual environment on PATH, keeping the venv's own path in shebangs", () => {
    const files = [
      ...pythonOrg("3.11"),
      dir("opt/venv"),
      file("opt/venv/pyvenv.cfg"),
      link("opt/venv/bin/python", "/usr/local/bin/python3.11"),
      link("opt/venv/bin/python3", "python"),
      link("opt/venv/bin/python3.11", "python"),
      dir("opt/venv/lib/python3.11/site-packages"),
    ];
    const found = discoverPython(files, ["PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV=/opt/venv"]);
    assert.equal(found.layout, "venv");
    assert.equal(found.interpreter, "/opt/venv/bin/python3.11");
    assert.equal(found.sitePackages, "/opt/venv/lib/python3.11/site-packages");
    assert.equal(found.scheme.scripts, "/opt/venv/bin");
    assert.equal(found.scheme.headers, "/opt/venv/include/site/python3.11");
  });

  it("finds a venv named only by VIRTUAL_ENV, with only bin/python", () => {
    const files = [...debianPython, file("venv/pyvenv.cfg"), link("venv/bin/python", "/usr/bin/python3"), dir("venv/lib/python3.11/site-packages")];
    const found = discoverPython(files, ["PATH=/usr/bin:/bin", "VIRTUAL_ENV=/venv"]);
    assert.equal(found.layout, "venv");
    assert.equal(found.interpreter, "/venv/bin/python");
    assert.equal(found.version, "3.11");
  });

  it("finds conda's python in /opt/conda, on PATH or not", () => {
    const files = [
      ...debianBase,
      file("opt/conda/bin/python3.11"),
      link("opt/conda/bin/python", "python3.11"),
      file("opt/conda/bin/conda"),
      dir("opt/conda/conda-meta"),
      dir("opt/conda/lib/python3.11/site-packages"),
    ];
    for (const env of [["PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], ["PATH=/usr/bin:/bin"]]) {
      const found = discoverPython(files, env);
      assert.equal(found.layout, "conda");
      assert.equal(found.interpreter, "/opt/conda/bin/python3.11");
      assert.equal(found.sitePackages, "/opt/conda/lib/python3.11/site-packages");
      assert.equal(found.scheme.scripts, "/opt/conda/bin");
    }
  });

  it("picks the requested version when the image has several", () => {
    const files = [
      ...debianBase,
      file("usr/bin/python3.10"),
      file("usr/bin/python3.11"),
      link("usr/bin/python3", "python3.10"),
      dir("usr/lib/python3.10"),
      dir("usr/lib/python3.11"),
      dir("usr/lib/python3/dist-packages"),
    ];
    assert.equal(discoverPython(files, undefined).interpreter, "/usr/bin/python3.10", "python3 decides without a request");
    const wanted = discoverPython(files, undefined, { pythonVersion: "3.11.4" });
    assert.equal(wanted.interpreter, "/usr/bin/python3.11");
    assert.equal(wanted.sitePackages, "/usr/local/lib/python3.11/dist-packages");
  });

  it("names both versions when the base has another Python than the spec asks for", () => {
    const error = expectError(() => discoverPython(pythonOrg("3.12"), pythonOrgEnv, { pythonVersion: "3.11", image: "python:3.12-slim" }), "PYTHON_VERSION_MISMATCH");
    assert.match(error.message, /asks for Python 3\.11/);
    assert.match(error.message, /python:3\.12-slim has Python 3\.12 \(\/usr\/local\/bin\/python3\.12\)/);
    assert.match(error.hint ?? "", /python:3\.11-slim/);
  });

  it("says so when there is no Python at all, and survives symlink loops", () => {
    const error = expectError(() => discoverPython(debianBase, undefined, { image: "debian:bookworm" }), "PYTHON_NOT_FOUND");
    assert.match(error.message, /debian:bookworm/);
    assert.match(error.hint ?? "", /python:3\.12-slim-bookworm, the default base when python_version is set.*add python3 to apt_packages/);
    const loop = [...debianBase, link("usr/local/bin/python3", "python3"), link("usr/local/bin/python", "/usr/local/bin/python")];
    expectError(() => discoverPython(loop, undefined), "PYTHON_NOT_FOUND");
  });

  it("accepts listings written with leading slashes, ./ and trailing slashes", () => {
    const files = pythonOrg("3.11").map((f) => ({ ...f, path: f.type === "dir" ? `./${f.path}/` : `/${f.path}` }));
    assert.equal(discoverPython(files, pythonOrgEnv).interpreter, "/usr/local/bin/python3.11");
  });
});
