// The generated Dockerfile, field by field, and the build context written for it.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmod, lstat, mkdir, readFile, readlink, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { generateDockerfile, specDockerfile, writeContext, type DockerfileInput } from "../../src/build/index.js";
import { ImageSpec, collectFiles, type ImageSpecInput } from "../../src/spec/index.js";
import { removeDir, tempDir } from "../support/tools.js";

const BASE = "registry.example.com/base/python:3.11";

function spec(fields: Partial<ImageSpecInput> = {}, baseDir = "/nonexistent"): ImageSpec {
  return new ImageSpec({ name: "app", registry: "registry.example.com/team", baseImage: BASE, ...fields }, { baseDir });
}

function generate(s: ImageSpec, extra: Partial<DockerfileInput> = {}) {
  return generateDockerfile({ spec: s, files: [], base: BASE, specId: "abc123", ...extra });
}

/** The instruction lines (continuations joined), without comments and blank lines. */
/** The key the install step carries: the digest of the files bind-mounted into it. */
function mountedKey(files: readonly { path: string; kind: string; content?: string }[]): string {
  const text = files.filter((f) => f.path.startsWith("python/")).map((f) => `${f.path}\0${f.content ?? ""}\0`).join("");
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

function instructions(dockerfile: string): string[] {
  return dockerfile
    .replace(/ \\\n\s*/g, " ")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"));
}

describe("generateDockerfile", () => {
  it("a spec with nothing to run: FROM, WORKDIR, the spec id last; no USER root, no stages", () => {
    const { dockerfile, files, images } = generate(spec());
    assert.deepEqual(instructions(dockerfile), [`FROM ${BASE}`, "WORKDIR /root", 'ENV IMAGESPEC_ID="abc123"']);
    assert.deepEqual(files, []);
    assert.deepEqual(images, [BASE]);
  });

  it("apt packages: one RUN with cache mounts for apt's lists and downloads, non-interactive, no recommends", () => {
    const lines = instructions(generate(spec({ aptPackages: ["jq", "curl=7.88.1-10+deb12u5", "libc6:arm64"] })).dockerfile);
    assert.equal(lines[1], "USER root");
    assert.equal(
      lines[2],
      "RUN --mount=type=cache,target=/var/cache/apt,id=imagespec-apt-cache,sharing=locked --mount=type=cache,target=/var/lib/apt/lists,id=imagespec-apt-lists,sharing=locked apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends jq curl=7.88.1-10+deb12u5 libc6:arm64",
    );
  });

  it("Python with uv (default): a uv stage, uv mounted for the install step, into the base's interpreter past PEP 668", () => {
    const { dockerfile, images, files } = generate(spec({ packages: ["numpy>=1.26", "pandas"], pythonVersion: "3.11.4" }));
    const lines = instructions(dockerfile);
    assert.equal(lines[0], "FROM ghcr.io/astral-sh/uv:0.8.13 AS uv");
    assert.equal(lines[1], `FROM ${BASE}`);
    assert.equal(
      lines.find((l) => l.includes("uv pip install")),
      `RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv --mount=type=cache,target=/root/.cache/uv,id=imagespec-uv,sharing=locked --mount=type=bind,source=python,target=/tmp/imagespec-python IMAGESPEC_REQUIREMENTS=${mountedKey(files)} UV_LINK_MODE=copy uv pip install --python python3.11 --system --break-system-packages -r /tmp/imagespec-python/requirements.txt`,
    );
    assert.deepEqual(images, ["ghcr.io/astral-sh/uv:0.8.13", BASE]);
    assert.deepEqual(files, [{ path: "python/requirements.txt", kind: "text", content: "# written by imagespec for the install step; bind-mounted, never copied into the image\nnumpy>=1.26\npandas\n" }]);
  });

  it("a changed requirements file changes the install step (buildah's --layers cache does not see bind mounts)", () => {
    const install = (text: string) => instructions(generate(spec({ requirements: "requirements.txt" }), { requirementsText: text }).dockerfile).find((l) => l.includes("uv pip install"))!;
    assert.equal(install("requests==2.31.0\n"), install("requests==2.31.0\n"));
    assert.notEqual(install("requests==2.31.0\n"), install("requests==2.32.0\n"));
    assert.match(install("requests==2.31.0\n"), / IMAGESPEC_REQUIREMENTS=[0-9a-f]{16} UV_LINK_MODE=copy /);
  });

  it("index options go into the bind-mounted requirements file, never into the Dockerfile; pipExtraArgs onto the command", () => {
    const s = spec({
      packages: ["greet"],
      pipIndex: "https://user:secret@pypi.example.com/simple",
      pipExtraIndexUrl: ["https://extra.example.com/simple", "https://other.example.com/simple"],
      pipExtraArgs: "--no-deps --pre",
      builderOptions: { pythonInstaller: "pip" },
    });
    const { dockerfile, files } = generate(s);
    assert.ok(!dockerfile.includes("secret"), "credentials of the index stay out of the Dockerfile");
    assert.ok(!dockerfile.includes("extra.example.com"));
    assert.ok(!dockerfile.includes("FROM ghcr.io"), "no uv stage with pip");
    assert.equal(
      instructions(dockerfile).find((l) => l.includes("pip install")),
      `RUN --mount=type=cache,target=/root/.cache/pip,id=imagespec-pip,sharing=locked --mount=type=bind,source=python,target=/tmp/imagespec-python IMAGESPEC_REQUIREMENTS=${mountedKey(files)} PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install -r /tmp/imagespec-python/requirements.txt --no-deps --pre`,
    );
    const requirements = files.find((f) => f.path === "python/requirements.txt");
    assert.ok(requirements && requirements.kind === "text");
    assert.deepEqual(requirements.content.split("\n").slice(1), [
      "--index-url https://user:secret@pypi.example.com/simple",
      "--extra-index-url https://extra.example.com/simple",
      "--extra-index-url https://other.example.com/simple",
      "greet",
      "",
    ]);
  });

  it("a requirements file is copied into the context and included from the generated one", () => {
    const { files } = generate(spec({ requirements: "requirements.txt" }), { requirementsText: "attrs==23.2.0\n" });
    assert.deepEqual(files[0], {
      path: "python/requirements.txt",
      kind: "text",
      content: "# written by imagespec for the install step; bind-mounted, never copied into the image\n-r spec-requirements.txt\n",
    });
    const userFile = files.find((f) => f.path === "python/spec-requirements.txt");
    assert.deepEqual(userFile, { path: "python/spec-requirements.txt", kind: "text", content: "attrs==23.2.0\n" });
    assert.throws(() => generate(spec({ requirements: "requirements.txt" })), /requirements file/);
  });

  it("a venv: created with the chosen interpreter, on PATH, installed into without breaking system packages", () => {
    const lines = instructions(generate(spec({ packages: ["greet"], builderOptions: { pythonInstaller: "pip", pythonEnv: "venv", venvPath: "/opt/app" } })).dockerfile);
    assert.ok(lines.includes("RUN python3 -m venv /opt/app"));
    assert.ok(lines.includes("ENV PATH=/opt/app/bin:$PATH VIRTUAL_ENV=/opt/app"));
    const install = lines.find((l) => l.includes("pip install"))!;
    assert.match(install, /PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \/opt\/app\/bin\/python -m pip install/);
    assert.doesNotMatch(install, /BREAK_SYSTEM/);
    const uv = instructions(generate(spec({ packages: ["greet"], builderOptions: { pythonEnv: "venv" } })).dockerfile);
    assert.ok(uv.includes("RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv uv venv --python python3 /opt/venv"));
    assert.match(uv.find((l) => l.includes("uv pip install"))!, /uv pip install --python \/opt\/venv\/bin\/python -r /);
  });

  it("conda packages: a micromamba stage, an env with the spec's Python and channels, on PATH; pip then installs into it", () => {
    const s = spec({ condaPackages: ["numpy", "cudatoolkit=11.8"], condaChannels: ["nvidia", "conda-forge"], pythonVersion: "3.10", packages: ["greet"], builderOptions: { pythonInstaller: "pip" } });
    const { dockerfile, images } = generate(s);
    const lines = instructions(dockerfile);
    assert.equal(lines[0], "FROM docker.io/mambaorg/micromamba:2.3.1-debian12-slim AS micromamba");
    assert.deepEqual(images, ["docker.io/mambaorg/micromamba:2.3.1-debian12-slim", BASE]);
    assert.ok(
      lines.includes(
        "RUN --mount=from=micromamba,source=/usr/bin/micromamba,target=/usr/local/bin/micromamba --mount=type=cache,target=/opt/micromamba/pkgs,id=imagespec-micromamba,sharing=locked micromamba create -y --root-prefix /opt/micromamba --prefix /opt/micromamba/envs/runtime -c nvidia -c conda-forge python=3.10 numpy cudatoolkit=11.8",
      ),
    );
    assert.ok(lines.includes("ENV PATH=/opt/micromamba/envs/runtime/bin:$PATH"));
    assert.match(lines.find((l) => l.includes("pip install"))!, /PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \/opt\/micromamba\/envs\/runtime\/bin\/python -m pip/);
    // conda-forge by default; a python the spec names itself is not added twice.
    const own = instructions(generate(spec({ condaPackages: ["python=3.12", "scipy"] })).dockerfile).find((l) => l.includes("micromamba create"))!;
    assert.match(own, / -c conda-forge python=3\.12 scipy$/);
  });

  it("env (sorted, $ and quotes escaped), PYTHONPATH for copied files, then commands, then the files, then the config", async () => {
    const dir = await tempDir();
    try {
      await mkdir(join(dir, "src", "pkg"), { recursive: true });
      await writeFile(join(dir, "src", "pkg", "__init__.py"), "X = 1\n");
      const s = spec(
        {
          env: { ZED: "last", A_VAR: 'has $HOME and "quotes"' },
          commands: ["make install", "set -e\necho two"],
          sourceRoot: "src",
          entrypoint: ["python", "-m"],
          cmd: ["pkg"],
          user: "1000:1000",
          workdir: "/app",
          labels: { "org.opencontainers.image.source": "https://example.com/repo", team: "ml" },
        },
        dir,
      );
      const { dockerfile, files } = generate(s, { files: await collectFiles(s) });
      assert.deepEqual(instructions(dockerfile), [
        `FROM ${BASE}`,
        "USER root",
        'ENV A_VAR="has \\$HOME and \\"quotes\\"" PYTHONPATH="/app" ZED="last"',
        "WORKDIR /app",
        "RUN make install",
        'RUN ["/bin/sh","-c","set -e\\necho two"]',
        "COPY files/ /",
        'ENTRYPOINT ["python","-m"]',
        'CMD ["pkg"]',
        "USER 1000:1000",
        'LABEL org.opencontainers.image.source="https://example.com/repo" team="ml"',
        'ENV IMAGESPEC_ID="abc123"',
      ]);
      assert.deepEqual(
        files.map((f) => [f.path, f.kind]),
        [
          ["files/app/pkg", "dir"],
          ["files/app/pkg/__init__.py", "copy"],
        ],
      );
      // commandsAfterCopy moves the commands behind the files.
      const after = instructions(generate(spec({ commands: ["make"], sourceRoot: "src", builderOptions: { commandsAfterCopy: true } }, dir), { files: await collectFiles(s) }).dockerfile);
      assert.ok(after.indexOf("COPY files/ /") < after.indexOf("RUN make"));
    } finally {
      await removeDir(dir);
    }
  });

  it("restores the base's user after RUN steps when the spec sets none; keeps it untouched without RUN steps", () => {
    const withRuns = instructions(generate(spec({ commands: ["true"] }), { baseUser: "app" }).dockerfile);
    assert.equal(withRuns[1], "USER root");
    assert.equal(withRuns.at(-2), "USER app");
    const without = instructions(generate(spec(), { baseUser: "app" }).dockerfile);
    assert.ok(!without.some((l) => l.startsWith("USER")));
  });

  it("rejects bad builderOptions with the key named", () => {
    assert.throws(() => generate(spec({ builderOptions: { pythonInstaller: "conda" } })), (e: Error & { code?: string }) => {
      assert.equal(e.code, "INVALID_BUILDER_OPTIONS");
      assert.match(e.message, /builderOptions\.pythonInstaller: expected "uv" or "pip", got "conda"/);
      return true;
    });
    assert.throws(() => generate(spec({ builderOptions: { venvPath: "opt/venv" } })), /builderOptions\.venvPath: expected an absolute path/);
    assert.throws(() => generate(spec({ builderOptions: { commandsAfterCopy: "yes" } })), /commandsAfterCopy: expected true or false/);
  });

  it("uvImage, micromambaImage and python are configurable", () => {
    const { images, dockerfile } = generate(
      spec({ packages: ["x"], condaPackages: ["y"], builderOptions: { uvImage: "mirror.example.com/uv:0.9.0", micromambaImage: "mirror.example.com/micromamba:2", python: "/usr/local/bin/python3.12" } }),
    );
    assert.deepEqual(images, ["mirror.example.com/uv:0.9.0", "mirror.example.com/micromamba:2", BASE]);
    assert.match(dockerfile, /FROM mirror\.example\.com\/uv:0\.9\.0 AS uv\nFROM mirror\.example\.com\/micromamba:2 AS micromamba/);
    const venv = instructions(generate(spec({ packages: ["x"], builderOptions: { python: "/usr/local/bin/python3.12", pythonEnv: "venv", pythonInstaller: "pip" } })).dockerfile);
    assert.ok(venv.includes("RUN /usr/local/bin/python3.12 -m venv /opt/venv"));
  });
});

describe("specDockerfile and writeContext", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await removeDir(dir);
  });

  it("writes only what the Dockerfile uses: the Dockerfile, python/, files/ with modes and symlinks kept; the spec id is the tag", async () => {
    const project = join(dir, "project");
    await mkdir(join(project, "src", "bin"), { recursive: true });
    await writeFile(join(project, "src", "bin", "run.sh"), "#!/bin/sh\necho hi\n");
    await chmod(join(project, "src", "bin", "run.sh"), 0o755);
    await writeFile(join(project, "src", "main.py"), "print(1)\n");
    await symlink("main.py", join(project, "src", "link.py"));
    await writeFile(join(project, "src", ".gitignore"), "*.log\n");
    await writeFile(join(project, "src", "debug.log"), "ignored\n");
    await writeFile(join(project, "unrelated.txt"), "not in the context\n");
    await writeFile(join(project, "reqs.txt"), "greet\n");
    const s = spec({ sourceRoot: "src", requirements: "reqs.txt", builderOptions: { pythonInstaller: "pip" } }, project);
    const generated = await specDockerfile(s);
    assert.equal(generated.image.slice(generated.image.lastIndexOf(":") + 1), /IMAGESPEC_ID="([a-z0-9]+)"/.exec(generated.dockerfile)?.[1]);
    const context = await writeContext(generated, dir);
    try {
      assert.equal((await lstat(context.dir)).mode & 0o777, 0o700);
      assert.equal(await readFile(context.dockerfile, "utf8"), generated.dockerfile);
      assert.equal(await readFile(join(context.dir, "python", "spec-requirements.txt"), "utf8"), "greet\n");
      assert.equal((await lstat(join(context.dir, "files", "root", "bin", "run.sh"))).mode & 0o777, 0o755);
      assert.equal((await lstat(join(context.dir, "files", "root", "main.py"))).mode & 0o777, 0o644);
      assert.equal(await readlink(join(context.dir, "files", "root", "link.py")), "main.py");
      await assert.rejects(lstat(join(context.dir, "files", "root", "debug.log")), /ENOENT/);
      await assert.rejects(lstat(join(context.dir, "unrelated.txt")), /ENOENT/);
    } finally {
      await context.remove();
    }
    await assert.rejects(lstat(context.dir), /ENOENT/);
  });

  it("a nested base spec is FROM the name it is built as", async () => {
    const baseSpec = new ImageSpec({ name: "base", registry: "registry.example.com/team", baseImage: BASE, commands: ["true"] });
    const child = new ImageSpec({ name: "child", registry: "registry.example.com/team", baseImage: baseSpec, commands: ["true"] });
    const generated = await specDockerfile(child);
    const baseName = (await specDockerfile(baseSpec)).image;
    assert.match(generated.dockerfile, new RegExp(`^FROM ${baseName.replace(/[.]/g, "\\.")}$`, "m"));
  });
});
