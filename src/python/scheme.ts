// Where an installed wheel's parts go in the image (pip's "install scheme"), as absolute POSIX
// paths, and the interpreter the scripts' shebangs name.
import { posix } from "node:path";
import { PythonError } from "./errors.js";
import { pythonMajorMinor } from "./tags.js";

export interface InstallScheme {
  /** Pure-Python modules, e.g. `/usr/local/lib/python3.11/site-packages`. */
  readonly purelib: string;
  /** Compiled modules; the same directory as purelib on Linux layouts. */
  readonly platlib: string;
  /** Console scripts and `.data/scripts`, e.g. `/usr/local/bin`. */
  readonly scripts: string;
  /** `.data/data` is laid out relative to this prefix, e.g. `/usr/local`. */
  readonly data: string;
  /** C headers go to `<headers>/<project>/`, e.g. `/usr/local/include/python3.11`. */
  readonly headers: string;
}

export interface InstallTarget {
  readonly scheme: InstallScheme;
  /** Absolute path of the image's interpreter, written into the scripts' `#!` lines. */
  readonly interpreter: string;
}

export const SCHEME_KEYS = ["purelib", "platlib", "scripts", "data", "headers"] as const;
export type SchemeKey = (typeof SCHEME_KEYS)[number];

/** The scheme of an interpreter installed under `prefix` (python.org builds, conda, venvs). */
export function prefixScheme(prefix: string, pythonVersion: string, sitePackages = "site-packages"): InstallScheme {
  const [major, minor] = pythonMajorMinor(pythonVersion);
  const lib = posix.join(prefix, "lib", `python${major}.${minor}`, sitePackages);
  return {
    purelib: lib,
    platlib: lib,
    scripts: posix.join(prefix, "bin"),
    data: prefix,
    headers: posix.join(prefix, "include", `python${major}.${minor}`),
  };
}

/** Throws unless every path of the scheme (and the interpreter) is absolute and normalised. */
export function checkInstallTarget(target: InstallTarget): void {
  const check = (what: string, path: string) => {
    if (!path.startsWith("/") || posix.normalize(path) !== path || path.includes("\0") || (path.length > 1 && path.endsWith("/"))) {
      throw new PythonError("PYTHON_TARGET_UNSUPPORTED", `install ${what} ${JSON.stringify(path)} is not a normalised absolute path in the image`, {
        hint: "write image paths like /usr/local/lib/python3.11/site-packages",
      });
    }
  };
  for (const key of SCHEME_KEYS) check(`scheme.${key}`, target.scheme[key]);
  check("interpreter", target.interpreter);
}
