// /etc/os-release (or /usr/lib/os-release): which distribution and release the base image is.
// Shell-style `KEY=value` lines, values optionally quoted.

export interface OsRelease {
  /** `debian`, `ubuntu`, ... */
  readonly id: string;
  /** `ID_LIKE` words, e.g. ["debian"] on Ubuntu. */
  readonly idLike: readonly string[];
  /** `VERSION_CODENAME` (bookworm, jammy); undefined on testing/sid without one. */
  readonly codename?: string;
  readonly versionId?: string;
  readonly prettyName?: string;
}

export function parseOsRelease(text: string): OsRelease {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!.trim();
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1).replace(/\\(["'$`\\])/g, "$1");
    }
    values.set(m[1]!, value);
  }
  const codename = values.get("VERSION_CODENAME") || values.get("UBUNTU_CODENAME") || undefined;
  const versionId = values.get("VERSION_ID");
  const prettyName = values.get("PRETTY_NAME");
  return {
    id: (values.get("ID") ?? "linux").toLowerCase(),
    idLike: (values.get("ID_LIKE") ?? "").split(/\s+/).filter(Boolean),
    ...(codename !== undefined ? { codename } : {}),
    ...(versionId !== undefined ? { versionId } : {}),
    ...(prettyName !== undefined ? { prettyName } : {}),
  };
}

/** Whether apt packages can be installed on it: Debian or a derivative. */
export function isDebianLike(os: OsRelease): boolean {
  return os.id === "debian" || os.id === "ubuntu" || os.idLike.includes("debian") || os.idLike.includes("ubuntu");
}
