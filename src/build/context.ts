// The build context for a Dockerfile builder: a fresh temp dir (0700) holding the Dockerfile and
// only what it uses (the requirements for the install step, the spec's files under files/),
// never the user's project folder as a whole. Removed after the build.
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { imageName, type ImageSpec } from "../spec/index.js";
import { collectFiles, lockKindOf, pyprojectBeside } from "../spec/index.js";
import { generateDockerfile, type GeneratedDockerfile } from "./dockerfile.js";
import { baseSource } from "./plan.js";

export interface SpecDockerfileOptions {
  /** The FROM image; default: the spec's base reference (a nested base spec: the name it is built as). */
  base?: string;
  /** The base image's USER, restored after the RUN steps when the spec sets none. */
  baseUser?: string;
}

/** The spec's Dockerfile and context files: files collected, requirements read, spec id from the tag. */
export async function specDockerfile(spec: ImageSpec, options: SpecDockerfileOptions = {}): Promise<GeneratedDockerfile & { image: string }> {
  const image = await imageName(spec);
  const source = await baseSource(spec);
  const base = options.base ?? (source.kind === "scratch" ? "scratch" : source.reference);
  const files = await collectFiles(spec);
  const requirementsText = spec.requirements !== undefined ? await readFile(resolve(spec.baseDir, spec.requirements), "utf8") : undefined;
  const pyprojectText = spec.requirements !== undefined && lockKindOf(spec.requirements) !== undefined ? await readFile(resolve(spec.baseDir, pyprojectBeside(spec.requirements)), "utf8") : undefined;
  const generated = generateDockerfile({
    spec,
    files,
    base,
    specId: image.slice(image.lastIndexOf(":") + 1),
    ...(options.baseUser !== undefined ? { baseUser: options.baseUser } : {}),
    ...(requirementsText !== undefined ? { requirementsText } : {}),
    ...(pyprojectText !== undefined ? { pyprojectText } : {}),
  });
  return { ...generated, image };
}

export interface BuildContext {
  /** The context root. */
  dir: string;
  /** `DIR/Dockerfile`. */
  dockerfile: string;
  remove(): Promise<void>;
}

/** Writes the Dockerfile and its context files into a new temp dir. */
export async function writeContext(generated: GeneratedDockerfile, parent = tmpdir()): Promise<BuildContext> {
  const dir = await mkdtemp(join(parent, "imagespec-context-"));
  await chmod(dir, 0o700);
  try {
    return await writeContextInto(generated, dir);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Writes the Dockerfile and its context files into `dir` (created if missing; existing files are replaced). */
export async function writeContextInto(generated: GeneratedDockerfile, target: string): Promise<BuildContext> {
  const dir = resolve(target);
  await mkdir(dir, { recursive: true });
  for (const file of generated.files) {
    const path = join(dir, ...file.path.split("/"));
    if (!path.startsWith(`${dir}/`)) throw new Error(`context file ${file.path} leaves the context`);
    if (file.kind === "dir") {
      await mkdir(path, { recursive: true, mode: 0o755 });
      await chmod(path, 0o755);
      continue;
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await rm(path, { force: true, recursive: true });
    if (file.kind === "text") await writeFile(path, file.content, { mode: file.mode ?? 0o644 });
    else if (file.kind === "symlink") await symlink(file.target, path);
    else {
      await copyFile(file.source, path);
      await chmod(path, file.mode);
    }
  }
  const dockerfile = join(dir, "Dockerfile");
  await writeFile(dockerfile, generated.dockerfile, { mode: 0o644 });
  return { dir, dockerfile, remove: () => rm(dir, { recursive: true, force: true }) };
}
