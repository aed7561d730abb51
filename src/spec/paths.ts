// Paths in a spec: host paths relative to the spec's folder (`copy`, `sourceRoot`) and POSIX paths
// inside the image (`workdir`, copy destinations). Host paths may not leave the spec's folder, so
// the tag depends only on what is below it and a spec means the same thing on every checkout.
import { posix } from "node:path";

/** The problem with a host path that must stay below the spec's folder, or undefined. */
export function checkContainedPath(path: string): string | undefined {
  const quoted = JSON.stringify(path);
  if (path.trim() === "") return "the path is empty";
  if (path.includes("\\")) return `${quoted} uses '\\'; write paths with '/' (they are the same on every OS)`;
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) {
    return `${quoted} is absolute; write it relative to the spec file's folder`;
  }
  if (path.split("/").includes("..")) {
    return `${quoted} goes up with '..'; only files below the spec file's folder can be used (move the spec file up instead)`;
  }
  return undefined;
}

/** `./src//app/` -> `src/app`, `.` -> `.`; assumes checkContainedPath passed. */
export function normaliseContainedPath(path: string): string {
  const normal = posix.normalize(path.trim());
  return normal === "./" ? "." : normal.replace(/\/+$/, "");
}

/** The problem with an absolute path inside the image, or undefined. */
export function checkImagePath(path: string): string | undefined {
  const quoted = JSON.stringify(path);
  if (!path.startsWith("/")) return `${quoted} is not absolute; paths in the image start with '/', e.g. /root`;
  if (path.includes("\\")) return `${quoted} uses '\\'; paths in the image use '/'`;
  if (path.split("/").includes("..")) return `${quoted} contains '..'; write the path it means`;
  return undefined;
}

/** Normalises an absolute image path: `/root//app/` -> `/root/app`. */
export function normaliseImagePath(path: string): string {
  const normal = posix.normalize(path);
  return normal === "/" ? normal : normal.replace(/\/+$/, "");
}

/** Where a copy destination lands: absolute as written, relative under the workdir. */
export function imageDestination(dest: string, workdir: string): string {
  return dest.startsWith("/") ? normaliseImagePath(dest) : normaliseImagePath(posix.join(workdir, dest));
}
