// Debian package requests as apt-get takes them: `name[:arch][=version]`, with names and versions
// following Debian Policy (5.6.1 Package, 5.6.12 Version).

export interface AptPackage {
  readonly name: string;
  readonly architecture?: string;
  readonly version?: string;
}

// Policy 5.6.1: at least two characters, lower-case letters, digits, '+', '-', '.', starting alphanumeric.
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const ARCHITECTURE = /^[a-z0-9][a-z0-9-]*$/;
const EPOCH = /^\d+$/;
// Colons may appear in the upstream version only after an epoch, and hyphens only before a revision;
// splitting at the first ':' and the last '-' leaves exactly those cases to these patterns.
const UPSTREAM_WITH_REVISION = /^[0-9][A-Za-z0-9.+~:-]*$/;
const UPSTREAM_ALONE = /^[0-9][A-Za-z0-9.+~:]*$/;
const REVISION = /^[A-Za-z0-9.+~]+$/;

/** Parses `name[:arch][=version]`; returns the problem (with the fix) instead when it cannot be valid. */
export function parseAptPackage(text: string): AptPackage | { problem: string } {
  const quoted = JSON.stringify(text);
  if (text.trim() !== text || text === "") return { problem: `${quoted} has leading or trailing white space or is empty` };
  if (/[<>]|==/.test(text)) {
    return { problem: `${quoted}: apt takes an exact version with a single '=' (name=1.2-3), not ranges or '=='` };
  }
  const equals = text.indexOf("=");
  const nameAndArch = equals >= 0 ? text.slice(0, equals) : text;
  const version = equals >= 0 ? text.slice(equals + 1) : undefined;
  const colon = nameAndArch.indexOf(":");
  const name = colon >= 0 ? nameAndArch.slice(0, colon) : nameAndArch;
  const architecture = colon >= 0 ? nameAndArch.slice(colon + 1) : undefined;

  if (!PACKAGE_NAME.test(name)) {
    if (PACKAGE_NAME.test(name.toLowerCase())) {
      return { problem: `${quoted}: Debian package names are lower case; did you mean ${JSON.stringify(text.replace(name, name.toLowerCase()))}?` };
    }
    return {
      problem: `${quoted} is not a Debian package name: expected at least two of a-z, 0-9, '+', '-', '.', starting with a letter or digit (like libssl-dev)`,
    };
  }
  if (architecture !== undefined && !ARCHITECTURE.test(architecture)) {
    return { problem: `${quoted}: ${JSON.stringify(architecture)} is not a Debian architecture (like amd64 or arm64)` };
  }
  if (version !== undefined) {
    const problem = checkDebianVersion(version);
    if (problem) return { problem: `${quoted}: ${problem}` };
  }
  return { name, ...(architecture !== undefined ? { architecture } : {}), ...(version !== undefined ? { version } : {}) };
}

/** The problem with a Debian version string (`[epoch:]upstream[-revision]`), or undefined. */
export function checkDebianVersion(version: string): string | undefined {
  const quoted = JSON.stringify(version);
  const expected = "expected [epoch:]upstream[-revision] with upstream starting with a digit, like 3.0.13-1~deb12u1";
  if (version === "") return `the version after '=' is empty; ${expected}`;
  const colon = version.indexOf(":");
  let rest = version;
  if (colon >= 0) {
    if (!EPOCH.test(version.slice(0, colon))) return `${quoted} is not a Debian version: the epoch before ':' must be a number; ${expected}`;
    rest = version.slice(colon + 1);
  }
  const dash = rest.lastIndexOf("-");
  const valid =
    dash >= 0
      ? UPSTREAM_WITH_REVISION.test(rest.slice(0, dash)) && REVISION.test(rest.slice(dash + 1))
      : UPSTREAM_ALONE.test(rest);
  return valid ? undefined : `${quoted} is not a Debian version; ${expected}`;
}
