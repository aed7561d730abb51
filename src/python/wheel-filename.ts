// Wheel file names (PEP 427, with the escaping rules of the binary distribution format spec):
// `{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, where each tag part may be a
// dot-separated set ("py2.py3", "manylinux_2_17_x86_64.manylinux2014_x86_64").
import { PythonError } from "./errors.js";

export interface WheelFilename {
  readonly filename: string;
  /** As written in the file name (underscores for runs of `-_.`). */
  readonly distribution: string;
  /** PEP 503 normalised project name, e.g. `typing-extensions`. */
  readonly project: string;
  readonly version: string;
  readonly build?: string;
  readonly pythonTags: readonly string[];
  readonly abiTags: readonly string[];
  readonly platformTags: readonly string[];
}

const DISTRIBUTION = /^[A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9_.!+]*$/;
const BUILD = /^\d[A-Za-z0-9_.]*$/;
const TAG = /^[A-Za-z0-9_]+$/;

/** PEP 503 name normalisation: `Typing_Extensions` and `typing.extensions` are both `typing-extensions`. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

export function parseWheelFilename(filename: string): WheelFilename {
  const invalid = (problem: string) =>
    new PythonError("WHEEL_INVALID_FILENAME", `${JSON.stringify(filename)} is not a valid wheel file name: ${problem}`, {
      hint: "wheel names look like name-1.0-py3-none-any.whl or name-1.0-cp311-cp311-manylinux_2_17_x86_64.whl (PEP 427)",
    });
  if (filename.includes("/") || filename.includes("\\")) throw invalid("it contains a path separator");
  if (!filename.endsWith(".whl")) throw invalid('it does not end in ".whl"');
  const parts = filename.slice(0, -".whl".length).split("-");
  if (parts.length !== 5 && parts.length !== 6) {
    throw invalid(`expected 5 or 6 dash-separated parts, found ${parts.length}`);
  }
  const [distribution, version] = parts as [string, string];
  const [pythonTag, abiTag, platformTag] = parts.slice(-3) as [string, string, string];
  const build = parts.length === 6 ? parts[2] : undefined;
  if (!DISTRIBUTION.test(distribution)) throw invalid(`distribution name ${JSON.stringify(distribution)} has characters outside letters, digits, "_" and "."`);
  if (!VERSION.test(version)) throw invalid(`version ${JSON.stringify(version)} is not a version`);
  if (build !== undefined && !BUILD.test(build)) throw invalid(`build tag ${JSON.stringify(build)} must start with a digit`);
  const tagSet = (what: string, value: string): string[] => {
    const tags = value.split(".");
    if (tags.some((tag) => !TAG.test(tag))) throw invalid(`${what} tag ${JSON.stringify(value)} is malformed`);
    return tags;
  };
  return {
    filename,
    distribution,
    project: normalizeProjectName(distribution),
    version,
    ...(build !== undefined ? { build } : {}),
    pythonTags: tagSet("python", pythonTag),
    abiTags: tagSet("abi", abiTag),
    platformTags: tagSet("platform", platformTag),
  };
}

/** Every `python-abi-platform` triple the (possibly compressed) tag sets of a wheel name stand for. */
export function wheelTags(wheel: WheelFilename): string[] {
  const tags: string[] = [];
  for (const python of wheel.pythonTags) {
    for (const abi of wheel.abiTags) {
      for (const platform of wheel.platformTags) tags.push(`${python}-${abi}-${platform}`);
    }
  }
  return tags;
}
