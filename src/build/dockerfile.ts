// The Dockerfile for a spec, for the builders that run commands inside the image (docker buildx,
// podman, buildah, BuildKit). flytekit's default builder is the model; what differs:
// - Python goes into the base's own interpreter (or a venv) instead of always a micromamba env;
//   micromamba runs only when the spec asks for conda packages.
// - Index options (which may carry credentials) live in a requirements file that is bind-mounted
//   for the install step, so they never reach a layer, the history or the Dockerfile.
// - The user's files come after every heavy step, so a code change rebuilds one small layer.
// - Valid for all four builders: `RUN --mount` (cache, bind, from) is understood by BuildKit and by
//   buildah/podman; no `# syntax=` line, so nothing is pulled to parse it.
//
// This module is pure: it turns a spec (and the files it copies) into Dockerfile text and a list
// of context files; src/build/context.ts writes them to disk.
import { createHash } from "node:crypto";
import { ImagespecError } from "../errors.js";
import { lockKindOf, type FileEntry, type ImageSpec, type LockKind } from "../spec/index.js";
import { configEnv, dockerfileCondaPackages, SPEC_ID_ENV } from "./plan.js";

/** flytekit's pin of uv's image; `builderOptions.uvImage` overrides it. */
export const DEFAULT_UV_IMAGE = "ghcr.io/astral-sh/uv:0.8.13";
/** flytekit's pin of micromamba's image; `builderOptions.micromambaImage` overrides it. */
export const DEFAULT_MICROMAMBA_IMAGE = "docker.io/mambaorg/micromamba:2.3.1-debian12-slim";
export const DEFAULT_VENV = "/opt/venv";
/** Where a lock's project and its env go: flytekit's /root, with uv's and Poetry's in-project .venv. */
export const LOCK_PROJECT = "/root";
/** Where the conda env lives when condaPackages are given. */
export const CONDA_PREFIX = "/opt/micromamba/envs/runtime";
/** Where the install step sees the context's `python/` folder (bind mount: nothing stays in the image). */
const PYTHON_MOUNT = "/tmp/imagespec-python";

/** The spec's `builderOptions` that shape the Dockerfile (other keys belong to the backends). */
export interface DockerfileSettings {
  /** `uv` (default: copied in from `uvImage` for the install step only) or `pip` (the image's own pip). */
  pythonInstaller: "uv" | "pip";
  uvImage: string;
  micromambaImage: string;
  /** `system` (default): the base's interpreter; `venv`: a virtual env at `venvPath`. */
  pythonEnv: "system" | "venv";
  venvPath: string;
  /** The interpreter to install into; default `python<pythonVersion>` when the spec sets one, else `python3`. */
  python: string;
  /** Run `commands` after the files are copied (default: before, so a code change does not rerun them). */
  commandsAfterCopy: boolean;
}

/** A file the context must hold, at `path` (POSIX, relative to the context root). */
export type ContextFile =
  | { path: string; kind: "text"; content: string; mode?: number }
  | { path: string; kind: "copy"; source: string; mode: number }
  | { path: string; kind: "dir" }
  | { path: string; kind: "symlink"; target: string };

export interface DockerfileInput {
  spec: ImageSpec;
  /** The spec's files (collectFiles), already collected. */
  files: readonly FileEntry[];
  /** The FROM image: the spec's base reference, or the image a nested base spec was built as. */
  base: string;
  /** The base image's USER, when known: restored at the end when the spec sets none (RUN steps switch to root). */
  baseUser?: string;
  /** The spec id (the tag), written as IMAGESPEC_ID last. */
  specId: string;
  /** The requirements file's text (spec.requirements), read by the caller. */
  requirementsText?: string;
  /** With a lock as requirements: the pyproject.toml beside it. */
  pyprojectText?: string;
}

export interface GeneratedDockerfile {
  dockerfile: string;
  /** What the context holds besides the Dockerfile. */
  files: ContextFile[];
  /** Every image the Dockerfile pulls (FROM lines), for credentials and insecure-registry checks. */
  images: string[];
  settings: DockerfileSettings;
}

type OptionKey = keyof DockerfileSettings;

function optionError(key: string, expected: string, value: unknown): ImagespecError {
  return new ImagespecError("INVALID_BUILDER_OPTIONS", `builderOptions.${key}: expected ${expected}, got ${JSON.stringify(value)}`, {
    hint: "see docs/dockerfile-builders.md for the builder options",
  });
}

/** The Dockerfile settings from the spec's builderOptions, with defaults; throws INVALID_BUILDER_OPTIONS for a bad value. */
export function dockerfileSettings(spec: ImageSpec): DockerfileSettings {
  const o = spec.builderOptions;
  const text = (key: OptionKey, fallback: string): string => {
    const value = o[key];
    if (value === undefined) return fallback;
    if (typeof value !== "string" || value.trim() === "") throw optionError(key, "a non-empty string", value);
    return value;
  };
  const oneOf = <T extends string>(key: OptionKey, allowed: readonly T[], fallback: T): T => {
    const value = o[key];
    if (value === undefined) return fallback;
    if (typeof value !== "string" || !allowed.includes(value as T)) throw optionError(key, allowed.map((a) => JSON.stringify(a)).join(" or "), value);
    return value as T;
  };
  const venvPath = text("venvPath", DEFAULT_VENV);
  if (!venvPath.startsWith("/")) throw optionError("venvPath", "an absolute path", venvPath);
  const after = o.commandsAfterCopy;
  if (after !== undefined && typeof after !== "boolean") throw optionError("commandsAfterCopy", "true or false", after);
  const version = spec.pythonVersion?.split(".").slice(0, 2).join(".");
  return {
    pythonInstaller: oneOf("pythonInstaller", ["uv", "pip"], "uv"),
    uvImage: text("uvImage", DEFAULT_UV_IMAGE),
    micromambaImage: text("micromambaImage", DEFAULT_MICROMAMBA_IMAGE),
    pythonEnv: oneOf("pythonEnv", ["system", "venv"], "system"),
    venvPath,
    python: text("python", version !== undefined ? `python${version}` : "python3"),
    commandsAfterCopy: after ?? false,
  };
}

/** A value for `ENV`/`LABEL`: double-quoted, with `\`, `"` and `$` escaped (Dockerfiles expand `$VAR` there). */
export function quoteValue(value: string): string {
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`).replace(/\n/g, "\\n")}"`;
}

/** A key for `ENV`/`LABEL`: bare when it is a plain word, quoted otherwise. */
function quoteKey(key: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(key) ? key : quoteValue(key);
}

/** A shell word, single-quoted when it needs to be. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** JSON (exec) form for ENTRYPOINT / CMD. */
function execForm(argv: readonly string[]): string {
  return JSON.stringify(argv);
}

/** A RUN instruction; mounts on their own continued lines, the command last. */
function run(mounts: readonly string[], command: string): string {
  if (mounts.length === 0) return `RUN ${command}`;
  return [`RUN ${mounts[0]}`, ...mounts.slice(1).map((m) => `    ${m}`), `    ${command}`].join(" \\\n");
}

const cacheMount = (target: string, id: string) => `--mount=type=cache,target=${target},id=${id},sharing=locked`;

function continued(parts: readonly string[]): string {
  return parts.join(" \\\n    && ");
}

/** The requirements file the install step reads: index options, the spec's packages, the spec's file. */
function requirementsFile(spec: ImageSpec, hasUserFile: boolean): string {
  const lines = ["# written by imagespec for the install step; bind-mounted, never copied into the image"];
  if (spec.pipIndex !== undefined) lines.push(`--index-url ${spec.pipIndex}`);
  for (const url of spec.pipExtraIndexUrl) lines.push(`--extra-index-url ${url}`);
  lines.push(...spec.packages);
  if (hasUserFile) lines.push("-r spec-requirements.txt");
  return `${lines.join("\n")}\n`;
}

/** Whether the spec's Dockerfile runs install steps (as root, so the user is set again after them). */
export function dockerfileRunsSteps(spec: ImageSpec): boolean {
  const hasPython = spec.packages.length > 0 || spec.requirements !== undefined;
  return spec.aptPackages.length > 0 || dockerfileCondaPackages(spec).length > 0 || hasPython || spec.commands.length > 0;
}

/** The Dockerfile and context files for a spec. */
export function generateDockerfile(input: DockerfileInput): GeneratedDockerfile {
  const { spec, files } = input;
  const settings = dockerfileSettings(spec);
  const hasPython = spec.packages.length > 0 || spec.requirements !== undefined;
  // cuda/cudnn come from conda on this path (flytekit's cuda=<version>, cudnn=<version>).
  const condaPackages = dockerfileCondaPackages(spec);
  const hasConda = condaPackages.length > 0;
  const lock = spec.requirements !== undefined ? lockKindOf(spec.requirements) : undefined;
  // uv.lock is installed by uv sync, and Poetry by uv, whatever the installer for plain requirements.
  const useUv = hasPython && (settings.pythonInstaller === "uv" || lock !== undefined);
  const lines: string[] = [`# generated by imagespec for ${spec.name}; build context: this folder`];
  const images: string[] = [];
  const context: ContextFile[] = [];

  if (useUv) {
    lines.push(`FROM ${settings.uvImage} AS uv`);
    images.push(settings.uvImage);
  }
  if (hasConda) {
    lines.push(`FROM ${settings.micromambaImage} AS micromamba`);
    images.push(settings.micromambaImage);
  }
  lines.push("", `FROM ${input.base}`);
  images.push(input.base);

  const runs = dockerfileRunsSteps(spec);
  // Installing needs root; the spec's user (or the base's) is set again at the end.
  if (runs) lines.push("USER root");

  if (spec.aptPackages.length > 0) {
    lines.push(
      "",
      "# system packages; apt's lists and downloads stay in build caches, not in the image",
      run(
        [cacheMount("/var/cache/apt", "imagespec-apt-cache"), cacheMount("/var/lib/apt/lists", "imagespec-apt-lists")],
        continued(["apt-get update", `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${spec.aptPackages.map(shellWord).join(" ")}`]),
      ),
    );
  }

  // Which interpreter the Python step installs into, and whether it is the distribution's own.
  let python = settings.python;
  let systemPython = true;
  const pathDirs: string[] = [];
  if (hasConda) {
    const channels = spec.condaChannels.length > 0 ? spec.condaChannels : ["conda-forge"];
    const wantsPython = !condaPackages.some((p) => /^python(?:[=<>!~ ]|$)/.test(p));
    const version = spec.pythonVersion?.split(".").slice(0, 2).join(".");
    const packages = [...(wantsPython ? [version !== undefined ? `python=${version}` : "python"] : []), ...condaPackages];
    lines.push(
      "",
      "# conda packages, in their own env (micromamba is mounted from its image for this step only)",
      run(
        [`--mount=from=micromamba,source=/usr/bin/micromamba,target=/usr/local/bin/micromamba`, cacheMount("/opt/micromamba/pkgs", "imagespec-micromamba")],
        `micromamba create -y --root-prefix /opt/micromamba --prefix ${CONDA_PREFIX} ${channels.map((c) => `-c ${shellWord(c)}`).join(" ")} ${packages.map(shellWord).join(" ")}`,
      ),
    );
    pathDirs.push(`${CONDA_PREFIX}/bin`);
    python = `${CONDA_PREFIX}/bin/python`;
    systemPython = false;
  } else if (hasPython && settings.pythonEnv === "venv" && lock === undefined) {
    lines.push(
      "",
      "# a virtual env for the Python packages",
      useUv
        ? run([`--mount=from=uv,source=/uv,target=/usr/local/bin/uv`], `uv venv --python ${shellWord(settings.python)} ${shellWord(settings.venvPath)}`)
        : `RUN ${shellWord(settings.python)} -m venv ${shellWord(settings.venvPath)}`,
    );
    pathDirs.push(`${settings.venvPath}/bin`);
    python = `${settings.venvPath}/bin/python`;
    systemPython = false;
  }
  if (pathDirs.length > 0) {
    lines.push(`ENV PATH=${pathDirs.join(":")}:$PATH${settings.pythonEnv === "venv" && !hasConda ? ` VIRTUAL_ENV=${settings.venvPath}` : ""}`);
  }

  if (hasPython && lock !== undefined) {
    lines.push(...lockInstall(spec, input, lock, python, context));
  } else if (hasPython) {
    const requirementsText = spec.requirements !== undefined ? input.requirementsText : undefined;
    if (spec.requirements !== undefined && requirementsText === undefined) throw new Error("generateDockerfile: the spec has a requirements file, but its text was not given");
    context.push({ path: "python/requirements.txt", kind: "text", content: requirementsFile(spec, requirementsText !== undefined) });
    if (requirementsText !== undefined) context.push({ path: "python/spec-requirements.txt", kind: "text", content: requirementsText });
    const extra = spec.pipExtraArgs !== undefined && spec.pipExtraArgs.trim() !== "" ? ` ${spec.pipExtraArgs.trim()}` : "";
    const bind = `--mount=type=bind,source=python,target=${PYTHON_MOUNT}`;
    const requirements = `-r ${PYTHON_MOUNT}/requirements.txt`;
    // buildah and podman leave bind-mounted files out of their --layers cache key: the digest of
    // what is mounted, in the command itself, makes a changed requirement rebuild this step.
    const mounted = createHash("sha256").update(context.filter((f) => f.path.startsWith("python/")).map((f) => `${f.path}\0${String(f.kind === "text" ? f.content : "")}\0`).join("")).digest("hex").slice(0, 16);
    const keyed = `IMAGESPEC_REQUIREMENTS=${mounted} `;
    // Debian and Ubuntu mark their Python EXTERNALLY-MANAGED (PEP 668); installing into it is what the spec asks for.
    if (useUv) {
      lines.push(
        "",
        "# Python packages with uv (mounted from its image for this step only)",
        run(
          [`--mount=from=uv,source=/uv,target=/usr/local/bin/uv`, cacheMount("/root/.cache/uv", "imagespec-uv"), bind],
          `${keyed}UV_LINK_MODE=copy uv pip install --python ${shellWord(python)}${systemPython ? " --system --break-system-packages" : ""} ${requirements}${extra}`,
        ),
      );
    } else {
      lines.push(
        "",
        "# Python packages with pip",
        run(
          [cacheMount("/root/.cache/pip", "imagespec-pip"), bind],
          `${keyed}${systemPython ? "PIP_BREAK_SYSTEM_PACKAGES=1 " : ""}PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 ${shellWord(python)} -m pip install ${requirements}${extra}`,
        ),
      );
    }
  }

  // The spec's env (PYTHONPATH for copied code) before commands and files, so both see it.
  const env = configEnv(spec, files.length > 0);
  const envNames = Object.keys(env).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (envNames.length > 0) lines.push("", `ENV ${envNames.map((k) => `${quoteKey(k)}=${quoteValue(env[k]!)}`).join(" \\\n    ")}`);
  lines.push(`WORKDIR ${spec.workdir}`);

  const commands = spec.commands.length > 0 ? ["", "# the spec's commands", ...spec.commands.map(runCommand)] : [];
  const copy: string[] = [];
  if (files.length > 0) {
    // The collected tree, laid out by destination path under files/, copied in one layer.
    for (const entry of files) {
      const path = `files${entry.path}`;
      if (entry.type === "dir") context.push({ path, kind: "dir" });
      else if (entry.type === "symlink") context.push({ path, kind: "symlink", target: entry.linkTarget ?? "" });
      else context.push({ path, kind: "copy", source: entry.source, mode: entry.mode });
    }
    const count = files.filter((f) => f.type !== "dir").length;
    copy.push("", `# the spec's files (${count}), last among the heavy steps: a code change rebuilds this layer only`, "COPY files/ /");
  }
  if (settings.commandsAfterCopy) lines.push(...copy, ...commands);
  else lines.push(...commands, ...copy);

  lines.push("");
  if (spec.entrypoint !== undefined) lines.push(`ENTRYPOINT ${execForm(spec.entrypoint)}`);
  if (spec.cmd !== undefined) lines.push(`CMD ${execForm(spec.cmd)}`);
  const user = spec.user ?? (runs ? input.baseUser : undefined);
  if (user !== undefined && user !== "") lines.push(`USER ${user}`);
  const labelNames = Object.keys(spec.labels).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (labelNames.length > 0) lines.push(`LABEL ${labelNames.map((k) => `${quoteKey(k)}=${quoteValue(spec.labels[k]!)}`).join(" \\\n    ")}`);
  lines.push(`ENV ${SPEC_ID_ENV}=${quoteValue(input.specId)}`);
  return { dockerfile: `${lines.join("\n")}\n`, files: context, images, settings };
}

/**
 * A lock installed as flytekit installs it: the lock and pyproject.toml bind-mounted into /root,
 * `uv sync --locked --no-dev --no-install-project` or `poetry install --no-root` (Poetry itself in
 * a throwaway env, gone with the step), the env at /root/.venv first on PATH. Nothing is resolved:
 * uv stops when the lock does not match pyproject.toml, and both check every file's hash.
 */
function lockInstall(spec: ImageSpec, input: DockerfileInput, lock: LockKind, python: string, context: ContextFile[]): string[] {
  if (input.requirementsText === undefined || input.pyprojectText === undefined) throw new Error(`generateDockerfile: the spec's ${lock} and its pyproject.toml were not given`);
  context.push({ path: `python/${lock}`, kind: "text", content: input.requirementsText });
  context.push({ path: "python/pyproject.toml", kind: "text", content: input.pyprojectText });
  const mounted = createHash("sha256").update(`${input.requirementsText}\0${input.pyprojectText}`).digest("hex").slice(0, 16);
  const extra = spec.pipExtraArgs !== undefined && spec.pipExtraArgs.trim() !== "" ? ` ${spec.pipExtraArgs.trim()}` : "";
  const mounts = [
    `--mount=from=uv,source=/uv,target=/usr/local/bin/uv`,
    cacheMount("/root/.cache/uv", "imagespec-uv"),
    `--mount=type=bind,source=python/${lock},target=${LOCK_PROJECT}/${lock}`,
    `--mount=type=bind,source=python/pyproject.toml,target=${LOCK_PROJECT}/pyproject.toml`,
  ];
  const keyed = `IMAGESPEC_REQUIREMENTS=${mounted}`;
  const command =
    lock === "uv.lock"
      ? `cd ${LOCK_PROJECT} && ${keyed} UV_LINK_MODE=copy uv sync --locked --no-dev --no-install-project --python ${shellWord(python)}${extra}`
      : continued([
          `cd ${LOCK_PROJECT}`,
          `uv venv -q --python ${shellWord(python)} /tmp/imagespec-poetry`,
          "UV_LINK_MODE=copy uv pip install -q --python /tmp/imagespec-poetry/bin/python poetry",
          `${keyed} POETRY_VIRTUALENVS_IN_PROJECT=true POETRY_CACHE_DIR=/root/.cache/uv/poetry /tmp/imagespec-poetry/bin/poetry install --no-root --no-interaction${extra}`,
          "rm -rf /tmp/imagespec-poetry",
        ]);
  return [
    "",
    `# the locked set from ${lock}, installed as flytekit does (the project's own package is not installed)`,
    run(mounts, command),
    `ENV PATH=${LOCK_PROJECT}/.venv/bin:$PATH VIRTUAL_ENV=${LOCK_PROJECT}/.venv`,
  ];
}

/** A command as RUN: shell form, or for a multi-line script the exec form of `/bin/sh -c`, which keeps its newlines. */
function runCommand(command: string): string {
  return /[\r\n]/.test(command) ? `RUN ${execForm(["/bin/sh", "-c", command])}` : `RUN ${command}`;
}
