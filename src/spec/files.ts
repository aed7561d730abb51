// Which host files go into the image, and where. This is the one place that decides it: the builder
// lays exactly these entries into the image's layer and the tag hashes exactly these entries, so the
// two cannot disagree.
//
// Rules (docs/tag-algorithm.md has the full statement):
// - `sourceRoot` lands at `workdir` (flytekit copies the source root to /root); then each `copy`
//   entry in order; a later entry replaces an earlier one at the same destination path.
// - Directories are walked; `.git` is always left out; `.gitignore` files (in baseDir, in the folders
//   between baseDir and the copied folder, and inside it) and a `.dockerignore` at the root of the
//   copied folder exclude entries. A path named explicitly in `copy` is never excluded.
// - Modes are normalised the way git stores them (files 0644 or 0755, directories 0755, symlinks
//   0777), so the umask of the machine that checked the files out does not change the image or tag.
// - Symlinks are kept as links (never followed); sockets, FIFOs and devices are skipped.
// - Real paths stay inside the spec's folder, as in a Docker build context: a `copy` path or the
//   `sourceRoot` reached through a link to outside it is an error naming the path and the link.
import { lstat, readFile, readdir, readlink, realpath, stat } from "node:fs/promises";
import type { Stats } from "node:fs";
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from "node:path";
import ignore from "ignore";
import { ValidationError, type ValidationIssue } from "../errors.js";
import type { ImageSpec } from "./image-spec.js";
import { lockKindOf, pyprojectBeside } from "./lock-files.js";
import { imageDestination } from "./paths.js";
import { validPaths, type SpecPaths } from "./validate.js";

export interface FileEntry {
  /** Absolute path on the host. */
  readonly source: string;
  /** Absolute POSIX path inside the image. */
  readonly path: string;
  readonly type: "file" | "dir" | "symlink";
  /** Normalised permission bits: 0o644 or 0o755 for files, 0o755 for directories, 0o777 for symlinks. */
  readonly mode: number;
  /** Size in bytes for files; 0 for directories and symlinks. */
  readonly size: number;
  /** Where a symlink points, as stored in the link. */
  readonly linkTarget?: string;
}

const ALWAYS_EXCLUDED = new Set([".git"]);

/**
 * The files the spec puts into the image, sorted by destination path. Fails with a ValidationError
 * when a path the spec names does not exist.
 */
export async function collectFiles(spec: ImageSpec): Promise<FileEntry[]> {
  await verifySpecFiles(spec);
  const byPath = new Map<string, FileEntry>();
  const add = (entry: FileEntry) => byPath.set(entry.path, entry);

  if (spec.sourceRoot !== undefined) {
    const root = resolve(spec.baseDir, spec.sourceRoot);
    // The workdir already exists in the image; only what is inside the source root is laid down.
    for (const entry of await walkDirectory(root, spec.workdir, spec.baseDir)) add(entry);
  }
  for (const item of spec.copy) {
    const src = typeof item === "string" ? item : item.src;
    const dest = typeof item === "string" ? item : (item.dest ?? item.src);
    const source = resolve(spec.baseDir, src);
    const info = await lstat(source);
    let target = imageDestination(dest, spec.workdir);
    if (info.isDirectory()) {
      // A copied folder is a new directory in the image, unless it lands on the workdir or /.
      const rootEntry = target !== spec.workdir && target !== "/" ? await entryFor(source, target, info) : undefined;
      if (rootEntry) add(rootEntry);
      for (const entry of await walkDirectory(source, target, spec.baseDir)) add(entry);
    } else {
      // `dest: some/dir/` (trailing slash) means "into that folder", as in a Dockerfile COPY.
      if (typeof item !== "string" && item.dest?.endsWith("/")) target = posix.join(target, posix.basename(src));
      const entry = await entryFor(source, target, info);
      if (entry) add(entry);
    }
  }
  return [...byPath.values()].sort((a, b) => compareCodeUnits(a.path, b.path));
}

/**
 * Checks that every path the spec (and its nested base specs) names exists and is of the right
 * kind. Messages name the resolved path, so a wrong baseDir is obvious.
 */
export async function verifySpecFiles(spec: ImageSpec): Promise<void> {
  const issues: ValidationIssue[] = [];
  await collectMissing(spec, "", issues);
  if (issues.length > 0) throw new ValidationError(issues);
}

/**
 * The same checks for input that is not a valid spec, on the path fields that are valid on their
 * own, so that a loader reports a missing file together with the spec's other problems.
 */
export async function missingFilesOfInput(input: unknown, baseDir: string): Promise<ValidationIssue[]> {
  const paths = validPaths(input, baseDir);
  const issues: ValidationIssue[] = [];
  if (paths) await collectMissing(paths, "", issues);
  return issues;
}

async function collectMissing(spec: SpecPaths, prefix: string, issues: ValidationIssue[]): Promise<void> {
  /** `contained`: what is read must really be below the spec's folder (`copy`, `sourceRoot`); `requirements` may live anywhere. */
  const expect = async (field: string, path: string, kind: "file" | "dir" | "any", contained: "whole" | "parent" | false) => {
    const absolute = resolve(spec.baseDir, path);
    const info = await stat(absolute).catch(() => undefined);
    const problem = !info
      ? "does not exist"
      : kind === "file" && !info.isFile()
        ? "is not a file"
        : kind === "dir" && !info.isDirectory()
          ? "is not a directory"
          : undefined;
    if (problem) {
      issues.push({
        path: `${prefix}${field}`,
        message: `${JSON.stringify(path)} ${problem} (looked for ${absolute})`,
        hint: `relative paths resolve against the spec file's folder (${spec.baseDir})`,
      });
      return;
    }
    const escape = contained === false ? undefined : await escapingLink(spec.baseDir, path, contained);
    if (escape) {
      issues.push({
        path: `${prefix}${field}`,
        message: `${JSON.stringify(path)} leads outside the spec file's folder: the link ${escape.link} points to ${escape.target}`,
        hint: "only files really below the spec file's folder go into an image (as in a Docker build context); copy the files in, or move the spec file up",
      });
    }
  };
  const field = (name: "requirements" | "sourceRoot" | "copy" | "baseImage") => spec.written?.[name] ?? name;
  if (spec.requirements !== undefined) await expect(field("requirements"), spec.requirements, "file", false);
  // A lock needs its project's pyproject.toml beside it, as uv, Poetry and flytekit do.
  if (spec.requirements !== undefined && lockKindOf(spec.requirements) !== undefined) await expect(field("requirements"), pyprojectBeside(spec.requirements), "file", false);
  // The source root is walked, so it must resolve inside; a copied path is laid down as it is
  // (a link stays a link), so only the folders on the way to it must.
  if (spec.sourceRoot !== undefined) await expect(field("sourceRoot"), spec.sourceRoot, "dir", "whole");
  for (const [index, item] of spec.copy.entries()) {
    if (item === undefined) continue;
    await expect(typeof item === "string" ? `${field("copy")}[${index}]` : `${field("copy")}[${index}].src`, typeof item === "string" ? item : item.src, "any", "parent");
  }
  if (typeof spec.baseImage === "object") await collectMissing(spec.baseImage, `${prefix}${field("baseImage")}.`, issues);
}

/**
 * The first symlink on the way from `baseDir` to `path` (a contained relative path) whose real
 * location is outside `baseDir`'s real location: the `..` and absolute-path checks of the schema
 * are textual, and a link such as `linkdir -> /etc` would get past them. `parent`: the last
 * component is not followed (it is copied as a link if it is one).
 */
async function escapingLink(baseDir: string, path: string, scope: "whole" | "parent"): Promise<{ link: string; target: string } | undefined> {
  const root = await realpath(baseDir);
  const components = path.split("/").filter((c) => c !== "" && c !== ".");
  const checked = scope === "parent" ? components.slice(0, -1) : components;
  let current = baseDir;
  for (const component of checked) {
    current = join(current, component);
    const info = await lstat(current).catch(() => undefined);
    if (!info?.isSymbolicLink()) continue;
    const real = await realpath(current).catch(() => undefined);
    if (real === undefined) continue; // dangling: reported as missing
    const fromRoot = relative(root, real);
    if (fromRoot === ".." || fromRoot.startsWith(`..${sep}`) || isAbsolute(fromRoot)) return { link: current, target: real };
  }
  return undefined;
}

type Ignore = ReturnType<typeof ignore>;

/** Ignore rules from one .gitignore or .dockerignore, applying to paths below `base`. */
interface IgnoreRules {
  readonly base: string;
  readonly rules: Ignore;
}

/** Entries below `root` (not `root` itself), destinations under `target`. */
async function walkDirectory(root: string, target: string, baseDir: string): Promise<FileEntry[]> {
  const gitignores = await inheritedGitignores(root, baseDir);
  const dockerignore = await readDockerignore(root);
  const entries: FileEntry[] = [];

  const visit = async (dir: string, rules: readonly IgnoreRules[]): Promise<void> => {
    const own = await readGitignore(dir);
    // Deeper .gitignore files take precedence, as in git: the deepest rule set with an opinion wins.
    const active = own ? [own, ...rules] : rules;
    const names = (await readdir(dir)).sort(compareCodeUnits);
    for (const name of names) {
      if (ALWAYS_EXCLUDED.has(name)) continue;
      const source = join(dir, name);
      const info = await lstat(source);
      const isDir = info.isDirectory();
      if (isIgnored(source, isDir, active) || (dockerignore && ignoredBy(dockerignore, source, isDir) === true)) continue;
      const entry = await entryFor(source, posix.join(target, toPosix(relative(root, source))), info);
      if (!entry) continue;
      entries.push(entry);
      if (isDir) await visit(source, active);
    }
  };
  await visit(root, gitignores);
  return entries;
}

function isIgnored(path: string, isDir: boolean, rules: readonly IgnoreRules[]): boolean {
  for (const set of rules) {
    const verdict = ignoredBy(set, path, isDir);
    if (verdict !== undefined) return verdict;
  }
  return false;
}

/** true: ignored, false: explicitly re-included (`!pattern`), undefined: no rule matched. */
function ignoredBy(set: IgnoreRules, path: string, isDir: boolean): boolean | undefined {
  const rel = toPosix(relative(set.base, path));
  if (rel === "" || rel.startsWith("..")) return undefined;
  const result = set.rules.test(isDir ? `${rel}/` : rel);
  if (result.ignored) return true;
  if (result.unignored) return false;
  return undefined;
}

/** .gitignore files of baseDir and every folder down to (not including) root, deepest first. */
async function inheritedGitignores(root: string, baseDir: string): Promise<IgnoreRules[]> {
  const rules: IgnoreRules[] = [];
  const fromBase = relative(baseDir, root);
  if (fromBase === "" || fromBase.startsWith("..")) return rules;
  let dir = dirname(root);
  for (;;) {
    const own = await readGitignore(dir);
    if (own) rules.push(own);
    if (dir === baseDir || dirname(dir) === dir) break;
    dir = dirname(dir);
  }
  return rules;
}

async function readGitignore(dir: string): Promise<IgnoreRules | undefined> {
  const text = await readFile(join(dir, ".gitignore"), "utf8").catch(() => undefined);
  return text === undefined ? undefined : { base: dir, rules: ignore().add(text) };
}

/**
 * .dockerignore patterns are anchored at the root of the copied folder (Go's filepath.Match with
 * `**`), unlike .gitignore's, which match at any depth. Anchoring each pattern with a leading '/'
 * gives that meaning in gitignore syntax.
 */
async function readDockerignore(root: string): Promise<IgnoreRules | undefined> {
  const text = await readFile(join(root, ".dockerignore"), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const patterns: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negated = line.startsWith("!");
    const pattern = posix.normalize((negated ? line.slice(1) : line).trim().replace(/^\/+/, ""));
    if (pattern === "." || pattern === "") continue;
    patterns.push(`${negated ? "!" : ""}/${pattern}`);
  }
  return { base: root, rules: ignore().add(patterns) };
}

async function entryFor(source: string, path: string, info: Stats): Promise<FileEntry | undefined> {
  if (info.isDirectory()) return { source, path, type: "dir", mode: 0o755, size: 0 };
  if (info.isSymbolicLink()) return { source, path, type: "symlink", mode: 0o777, size: 0, linkTarget: await readlink(source) };
  if (info.isFile()) return { source, path, type: "file", mode: info.mode & 0o111 ? 0o755 : 0o644, size: info.size };
  return undefined;
}

function toPosix(path: string): string {
  return sep === "/" ? path : path.split(sep).join("/");
}

/** Plain code-unit order (JavaScript's default sort), stated so other implementations can match it. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
