// dpkg's database of what is installed: /var/lib/dpkg/status (one file of paragraphs) or, in
// distroless-style images, /var/lib/dpkg/status.d/<package> (one paragraph per file, no Status
// field: everything there is installed).
import { field, parseParagraphs, type Paragraph } from "./control.js";
import { parseRelations, type DependencyGroup } from "./version.js";

export interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
  readonly multiArch?: string;
  readonly provides: DependencyGroup[];
  /** The paragraph as read, to be written back. */
  readonly paragraph: Paragraph;
}

/** `install ok installed` (and packages whose files are there but not configured: `unpacked`, `half-configured`...). */
function isInstalled(status: string | undefined): boolean {
  if (status === undefined) return true; // status.d entries carry none
  const state = status.split(/\s+/)[2];
  return state === "installed" || state === "triggers-pending" || state === "triggers-awaited" || state === "half-configured" || state === "unpacked";
}

export function parseDpkgStatus(text: string): InstalledPackage[] {
  const out: InstalledPackage[] = [];
  for (const paragraph of parseParagraphs(text)) {
    const name = field(paragraph, "Package");
    const version = field(paragraph, "Version");
    if (name === undefined || version === undefined || !isInstalled(field(paragraph, "Status"))) continue;
    const multiArch = field(paragraph, "Multi-Arch");
    let provides: DependencyGroup[] = [];
    try {
      provides = parseRelations(field(paragraph, "Provides"));
    } catch {
      provides = [];
    }
    out.push({ name, version, architecture: field(paragraph, "Architecture") ?? "all", ...(multiArch !== undefined ? { multiArch } : {}), provides, paragraph });
  }
  return out;
}

/** What the base has installed, from its status file and/or status.d entries. */
export interface InstalledSet {
  readonly packages: readonly InstalledPackage[];
  /** Which database the base uses: the status file, status.d, or none (a base without dpkg data). */
  readonly database: "status" | "status.d" | "none";
  /** The status file's paragraphs in their order (status database only), to append to. */
  readonly statusText?: string;
}

export function installedFromFiles(files: ReadonlyMap<string, Buffer>): InstalledSet {
  const status = files.get("/var/lib/dpkg/status");
  const parts = [...files.keys()].filter((p) => p.startsWith("/var/lib/dpkg/status.d/") && !p.endsWith(".md5sums")).sort();
  const packages: InstalledPackage[] = [];
  if (status !== undefined) packages.push(...parseDpkgStatus(status.toString("utf8")));
  for (const path of parts) packages.push(...parseDpkgStatus(files.get(path)!.toString("utf8")));
  const database = status !== undefined && status.length > 0 ? "status" : parts.length > 0 ? "status.d" : status !== undefined ? "status" : "none";
  return { packages, database, ...(status !== undefined ? { statusText: status.toString("utf8") } : {}) };
}
