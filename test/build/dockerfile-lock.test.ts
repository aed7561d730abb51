// Lock files on the Dockerfile path: flytekit's commands (uv sync --locked --no-dev
// --no-install-project, poetry install --no-root), the lock and pyproject.toml bind-mounted (never
// copied into the image), the env first on PATH; and the spec-level rules for a lock.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateDockerfile, specDockerfile } from "../../src/build/index.js";
import { ValidationError } from "../../src/errors.js";
import { canonicalSpec, ImageSpec, loadSpecs } from "../../src/spec/index.js";
import { tempDir } from "../support/tools.js";

const BASE = "registry.example.com/base/python:3.11";

const joined = (dockerfile: string) => dockerfile.replace(/ \\\n\s*/g, " ");

async function lockProject(lock: "uv.lock" | "poetry.lock", pyproject: string | null = "[project]\nname = \"app\"\nversion = \"0.1.0\"\n"): Promise<string> {
  const dir = await tempDir("imagespec-dockerfile-lock-");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, lock), `# ${lock}\nversion = 1\n`);
  if (pyproject !== null) await writeFile(join(dir, "pyproject.toml"), pyproject);
  return dir;
}

describe("Dockerfile for a lock", () => {
  it("uv.lock: uv sync --locked --no-dev --no-install-project in /root, the venv first on PATH, nothing else installs", async () => {
    const dir = await lockProject("uv.lock");
    const spec = new ImageSpec({ name: "app", registry: "registry.example.com/team", baseImage: BASE, requirements: "uv.lock" }, { baseDir: dir });
    const { dockerfile, files } = await specDockerfile(spec);
    const text = joined(dockerfile);
    assert.match(text, /--mount=type=bind,source=python\/uv\.lock,target=\/root\/uv\.lock --mount=type=bind,source=python\/pyproject\.toml,target=\/root\/pyproject\.toml cd \/root && IMAGESPEC_REQUIREMENTS=[0-9a-f]{16} UV_LINK_MODE=copy uv sync --locked --no-dev --no-install-project --python python3\n/);
    assert.match(text, /^ENV PATH=\/root\/\.venv\/bin:\$PATH VIRTUAL_ENV=\/root\/\.venv$/m);
    assert.doesNotMatch(text, /uv pip install|pip install -r/);
    assert.deepEqual(files.map((f) => f.path).sort(), ["python/pyproject.toml", "python/uv.lock"]);
    assert.doesNotMatch(text, /^COPY .*uv\.lock/m);
  });

  it("poetry.lock: poetry from a throwaway env runs poetry install --no-root into /root/.venv, with uv even when pythonInstaller is pip", async () => {
    const dir = await lockProject("poetry.lock");
    const spec = new ImageSpec({ name: "app", registry: "registry.example.com/team", baseImage: BASE, requirements: "poetry.lock", pythonVersion: "3.12", builderOptions: { pythonInstaller: "pip" } }, { baseDir: dir });
    const { dockerfile, images } = await specDockerfile(spec);
    const text = joined(dockerfile);
    assert.ok(images.some((i) => i.startsWith("ghcr.io/astral-sh/uv:")), images.join(" "));
    assert.match(text, /uv venv -q --python python3\.12 \/tmp\/imagespec-poetry && UV_LINK_MODE=copy uv pip install -q --python \/tmp\/imagespec-poetry\/bin\/python poetry && IMAGESPEC_REQUIREMENTS=[0-9a-f]{16} POETRY_VIRTUALENVS_IN_PROJECT=true \S+ \/tmp\/imagespec-poetry\/bin\/poetry install --no-root --no-interaction && rm -rf \/tmp\/imagespec-poetry/);
    assert.match(text, /^ENV PATH=\/root\/\.venv\/bin:\$PATH VIRTUAL_ENV=\/root\/\.venv$/m);
  });

  it("the install step's key changes with pyproject.toml, not only with the lock", () => {
    const spec = new ImageSpec({ name: "app", registry: "registry.example.com/team", baseImage: BASE, requirements: "uv.lock" }, { baseDir: "/nonexistent" });
    const key = (pyprojectText: string) => /IMAGESPEC_REQUIREMENTS=(\w+)/.exec(generateDockerfile({ spec, files: [], base: BASE, specId: "x", requirementsText: "lock", pyprojectText }).dockerfile)?.[1];
    assert.notEqual(key("[project]\nname = 'a'\n"), key("[project]\nname = 'b'\n"));
  });
});

describe("a lock in the spec", () => {
  it("is refused together with packages, and without its pyproject.toml, in one report", async () => {
    const dir = await lockProject("uv.lock", null);
    await writeFile(join(dir, "imagespec.yaml"), "name: app\nrequirements: uv.lock\npackages: [numpy]\n");
    await assert.rejects(loadSpecs(join(dir, "imagespec.yaml")), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.deepEqual(error.issues.map((i) => i.path).sort(), ["packages", "requirements"]);
      assert.match(error.message, /cannot be combined with requirements: uv\.lock/);
      assert.match(error.message, /pyproject\.toml" does not exist/);
      return true;
    });
  });

  it("its pyproject.toml is part of the tag", async () => {
    const dir = await lockProject("poetry.lock");
    const spec = new ImageSpec({ name: "app", requirements: "poetry.lock" }, { baseDir: dir });
    const before = await canonicalSpec(spec);
    await writeFile(join(dir, "pyproject.toml"), "[project]\nname = \"app\"\nversion = \"0.2.0\"\n");
    const after = await canonicalSpec(spec);
    assert.equal(before.requirements, after.requirements);
    assert.notEqual(before.requirementsProject, after.requirementsProject);
  });
});
