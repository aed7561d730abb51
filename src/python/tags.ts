// Which wheels run on the target, computed from the target and never from the host: the image
// may be linux/arm64 while this process runs on an x86-64 laptop. The lists follow the order
// pip and `packaging.tags` use (most specific first), so the best wheel is the first match.
import { formatPlatform, type Platform } from "../oci/index.js";
import { PythonError } from "./errors.js";
import { parseWheelFilename, wheelTags } from "./wheel-filename.js";

export type Libc = { readonly family: "glibc"; readonly version: string } | { readonly family: "musl"; readonly version: string };

export interface PythonTarget {
  readonly platform: Platform;
  /** `3.11` (a patch level, `3.11.7`, is allowed and passed on to the resolver for Requires-Python). */
  readonly pythonVersion: string;
  /** The base image's C library; default glibc 2.36 (Debian 12). */
  readonly libc?: Libc;
}

/** Debian 12 (bookworm), the base of the python:3.x images. */
export const DEFAULT_GLIBC: Libc = { family: "glibc", version: "2.36" };
/** Alpine 3.x ships musl 1.2. */
export const DEFAULT_MUSL: Libc = { family: "musl", version: "1.2" };

/** OCI architecture (and variant) -> the machine name in wheel platform tags (`uname -m`). */
export function wheelArchitecture(platform: Platform): string {
  if (platform.os !== "linux") {
    throw new PythonError("PYTHON_TARGET_UNSUPPORTED", `wheels can only be chosen for linux images, not ${formatPlatform(platform)}`, {
      hint: "set platform to linux/amd64 or linux/arm64",
    });
  }
  switch (platform.architecture) {
    case "amd64":
      return "x86_64";
    case "arm64":
      return "aarch64";
    case "386":
      return "i686";
    case "arm":
      if (platform.variant === undefined || platform.variant === "v7") return "armv7l";
      break;
    case "ppc64le":
    case "s390x":
    case "riscv64":
      return platform.architecture;
  }
  throw new PythonError("PYTHON_TARGET_UNSUPPORTED", `no Python wheel platform is known for ${formatPlatform(platform)}`, {
    hint: "use linux/amd64 or linux/arm64, or the Dockerfile builder (builder: docker or buildah) to build in an emulated container",
  });
}

/** `3.11.7` -> [3, 11]. */
export function pythonMajorMinor(version: string): [number, number] {
  const match = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(version.trim());
  if (!match || match[1] !== "3") {
    throw new PythonError("PYTHON_TARGET_UNSUPPORTED", `${JSON.stringify(version)} is not a Python 3 version like "3.11"`);
  }
  return [3, Number(match[2])];
}

/** The CPython ABI tag of the target, `cp311`. */
export function cpythonAbi(target: PythonTarget): string {
  const [major, minor] = pythonMajorMinor(target.pythonVersion);
  return `cp${major}${minor}`;
}

function libcVersion(libc: Libc): [number, number] {
  const match = /^(\d+)\.(\d+)$/.exec(libc.version.trim());
  if (!match) {
    throw new PythonError("PYTHON_TARGET_UNSUPPORTED", `${libc.family} version ${JSON.stringify(libc.version)} should look like ${libc.family === "glibc" ? "2.36" : "1.2"}`);
  }
  return [Number(match[1]), Number(match[2])];
}

// The legacy manylinux names are aliases of glibc levels (PEP 600) and follow their level in
// the list. The oldest level a wheel may need is 2.5 on x86 and 2.17 elsewhere (manylinux2014).
const LEGACY_MANYLINUX: Record<number, string> = { 17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1" };

/** Platform tags the target accepts, most specific first, ending with plain `linux_<arch>`. */
export function platformTags(target: PythonTarget): string[] {
  const arch = wheelArchitecture(target.platform);
  const libc = target.libc ?? DEFAULT_GLIBC;
  const [major, minor] = libcVersion(libc);
  const tags: string[] = [];
  if (libc.family === "glibc") {
    if (major !== 2) throw new PythonError("PYTHON_TARGET_UNSUPPORTED", `glibc ${libc.version} is not a glibc 2.x version`);
    const oldest = arch === "x86_64" || arch === "i686" ? 5 : 17;
    for (let m = minor; m >= oldest; m--) {
      tags.push(`manylinux_2_${m}_${arch}`);
      const legacy = LEGACY_MANYLINUX[m];
      if (legacy !== undefined) tags.push(`${legacy}_${arch}`);
    }
  } else {
    if (major !== 1) throw new PythonError("PYTHON_TARGET_UNSUPPORTED", `musl ${libc.version} is not a musl 1.x version`);
    for (let m = minor; m >= 0; m--) tags.push(`musllinux_1_${m}_${arch}`);
  }
  tags.push(`linux_${arch}`);
  return tags;
}

/** Every `python-abi-platform` tag the target's CPython accepts, best first (packaging's order). */
export function supportedTags(target: PythonTarget): string[] {
  const [major, minor] = pythonMajorMinor(target.pythonVersion);
  const platforms = platformTags(target);
  const cp = `cp${major}${minor}`;
  const tags: string[] = [];
  const each = (python: string, abi: string, on: readonly string[]) => {
    for (const platform of on) tags.push(`${python}-${abi}-${platform}`);
  };
  each(cp, cp, platforms);
  each(cp, "abi3", platforms);
  each(cp, "none", platforms);
  for (let m = minor - 1; m >= 2; m--) each(`cp${major}${m}`, "abi3", platforms);
  // py311, py3, py310 ... py30: pure-Python tags, newest first with the bare major right after.
  const pythonRange = [`py${major}${minor}`, `py${major}`];
  for (let m = minor - 1; m >= 0; m--) pythonRange.push(`py${major}${m}`);
  for (const python of pythonRange) each(python, "none", platforms);
  tags.push(`${cp}-none-any`);
  for (const python of pythonRange) tags.push(`${python}-none-any`);
  return tags;
}

/** Arguments that make `pip install --dry-run` resolve for the target instead of the host. */
export function pipTargetArgs(target: PythonTarget): string[] {
  const args: string[] = [];
  for (const tag of platformTags(target)) args.push("--platform", tag);
  args.push("--python-version", target.pythonVersion.trim(), "--implementation", "cp", "--abi", cpythonAbi(target));
  return args;
}

const rankCache = new WeakMap<PythonTarget, Map<string, number>>();

function tagRanks(target: PythonTarget): Map<string, number> {
  let ranks = rankCache.get(target);
  if (ranks === undefined) {
    ranks = new Map(supportedTags(target).map((tag, index) => [tag, index]));
    rankCache.set(target, ranks);
  }
  return ranks;
}

/** Position of the wheel's best tag in `supportedTags` (lower is better); undefined when it does not run on the target. */
export function wheelRank(filename: string, target: PythonTarget): number | undefined {
  const ranks = tagRanks(target);
  let best: number | undefined;
  for (const tag of wheelTags(parseWheelFilename(filename))) {
    const rank = ranks.get(tag);
    if (rank !== undefined && (best === undefined || rank < best)) best = rank;
  }
  return best;
}

/** Whether a wheel (by file name) installs on the target: the check after a resolver's choice. */
export function wheelIsCompatible(filename: string, target: PythonTarget): boolean {
  return wheelRank(filename, target) !== undefined;
}

/** `linux/arm64, CPython 3.11, glibc 2.36`: how messages name the target. */
export function describeTarget(target: PythonTarget): string {
  const libc = target.libc ?? DEFAULT_GLIBC;
  return `${formatPlatform(target.platform)}, CPython ${target.pythonVersion}, ${libc.family} ${libc.version}`;
}
