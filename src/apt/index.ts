// imagespec/apt: native apt: Debian (and Ubuntu) packages laid into a layer without running anything, as apko and
// rules_distroless do. From the base image's files: its release (os-release), apt sources and
// keyrings, and dpkg database; then the signed InRelease, the Packages indexes by hash,
// resolution for the target architecture, the .debs (checked against the index), and the layer's
// entries with dpkg's database updated. The .deb (ar) reader and the InRelease signature check are
// internals, imported from their files.
//
//   const base = await readBaseFiles(layers, { cacheDir });
//   const plan = await resolveApt(base, ["curl", "jq"], { platform, cacheDir });
//   const { entries, warnings } = await aptLayerEntriesFor(plan, { cacheDir });
//   const layer = await layerFromEntries(entries, { cacheDir: ... });
import type { LayerEntry } from "../layer/index.js";
import { parseAptPackage } from "../spec/debian.js";
import { baseFile, type BaseFiles } from "./base-files.js";
import { readDebControl, unpackDeb } from "./deb.js";
import { downloadDebs } from "./download.js";
import { installedFromFiles, type InstalledSet } from "./dpkg-status.js";
import { AptError } from "./errors.js";
import { aptLayerEntries, type PreparedPackage } from "./layer.js";
import { isDebianLike, parseOsRelease, type OsRelease } from "./os-release.js";
import { indexPaths, loadIndex, type IndexPackage } from "./packages-index.js";
import { fetchRelease, type Release } from "./release.js";
import { buildUniverse, resolvePackages, type PackageRequest, type Resolution } from "./resolve.js";
import { sourcesFromFiles, withMirror, type SourceEntry } from "./sources.js";

export { readBaseFiles, resolveInBase, type BaseFiles, type BaseLayerSource } from "./base-files.js";
export { AptError, type AptErrorCode } from "./errors.js";
export { APT_LAYER_LAYOUT_VERSION } from "./layer.js";
export { compareVersions, parseRelations, satisfies } from "./version.js";
export { parseSourcesList, parseDeb822Sources, type SourceEntry } from "./sources.js";
export { parseDpkgStatus } from "./dpkg-status.js";
export { parseOsRelease, type OsRelease } from "./os-release.js";
export { buildUniverse, resolvePackages, type Resolution } from "./resolve.js";
export type { IndexPackage } from "./packages-index.js";

export type AptEvent =
  | { kind: "release"; url: string; signedBy: readonly string[] }
  | { kind: "index"; url: string; packages: number }
  | { kind: "resolved"; install: readonly string[]; alreadyInstalled: readonly string[] }
  | { kind: "download"; name: string; version: string; fromCache: boolean };

export interface AptOptions {
  /** The target platform (OCI names: amd64, arm64, arm/v7 ...). */
  readonly platform: { readonly architecture: string; readonly variant?: string };
  /** Cache root: indexes and .debs by hash under `apt/sha256`, unpacked packages under `apt/unpacked`. */
  readonly cacheDir: string;
  /** Archive URL that replaces the base's main archive (`http://deb.debian.org/debian` -> this). */
  readonly mirror?: string;
  readonly onEvent?: (event: AptEvent) => void;
  readonly signal?: AbortSignal;
}

/** What will be installed, known before anything is downloaded but the indexes. */
export interface AptPlan {
  readonly architecture: string;
  readonly os: OsRelease;
  readonly sources: readonly SourceEntry[];
  readonly installed: InstalledSet;
  readonly resolution: Resolution;
  readonly base: BaseFiles;
}

/** One resolved package as step keys and records name it. */
export interface AptPackageRecord {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
  readonly sha256: string;
}

const DEBIAN_ARCH: Record<string, string> = {
  amd64: "amd64",
  arm64: "arm64",
  "386": "i386",
  ppc64le: "ppc64el",
  s390x: "s390x",
  riscv64: "riscv64",
  mips64le: "mips64el",
};

/** The Debian architecture of an OCI platform: amd64, arm64, armhf (arm/v7), armel (arm/v5, v6) ... */
export function debianArchitecture(platform: AptOptions["platform"]): string {
  if (platform.architecture === "arm") return platform.variant === "v7" || platform.variant === undefined ? "armhf" : "armel";
  const arch = DEBIAN_ARCH[platform.architecture];
  if (arch === undefined) {
    throw new AptError("APT_ARCHITECTURE", `no Debian architecture for the platform's ${platform.architecture}`, { hint: "build for linux/amd64 or linux/arm64" });
  }
  return arch;
}

/** Parses `name[:arch][=version]` requests (the spec's aptPackages). */
export function parseRequests(packages: readonly string[]): PackageRequest[] {
  return packages.map((text) => {
    const parsed = parseAptPackage(text);
    if ("problem" in parsed) throw new AptError("APT_PACKAGE_NOT_FOUND", `aptPackages: ${parsed.problem}`);
    return { name: parsed.name, ...(parsed.architecture !== undefined ? { architecture: parsed.architecture } : {}), ...(parsed.version !== undefined ? { version: parsed.version } : {}) };
  });
}

/** The base's distribution and apt sources (with the mirror override applied). */
export function baseSources(base: BaseFiles, mirror: string | undefined): { os: OsRelease; sources: SourceEntry[] } {
  const osText = baseFile(base, "/etc/os-release") ?? baseFile(base, "/usr/lib/os-release");
  if (osText === undefined) {
    throw new AptError("APT_NO_DISTRIBUTION", "the base image has no /etc/os-release, so its distribution is unknown", {
      hint: "aptPackages needs a Debian or Ubuntu base image",
    });
  }
  const os = parseOsRelease(osText.toString("utf8"));
  if (!isDebianLike(os)) {
    throw new AptError("APT_NO_DISTRIBUTION", `the base image is ${os.prettyName ?? os.id}, not Debian or Ubuntu: apt packages cannot be installed on it`, {
      hint: "use a Debian or Ubuntu base image, or install the packages with the base's own package manager in a Dockerfile builder",
    });
  }
  let sources = sourcesFromFiles(base.files);
  if (sources.length === 0 && mirror !== undefined && os.codename !== undefined) {
    sources = [{ uri: mirror.replace(/\/+$/, ""), suite: os.codename, components: ["main"], origin: "the spec's apt mirror" }];
  } else if (mirror !== undefined) {
    sources = withMirror(sources, mirror);
  }
  if (sources.length === 0) {
    throw new AptError("APT_NO_SOURCES", `the base image (${os.prettyName ?? os.id}) has no apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d)`, {
      hint: "set an apt mirror in the spec (builderOptions.aptMirror), or use a base image with apt sources",
    });
  }
  return { os, sources };
}

/** Reads the base's sources and database, fetches and verifies the indexes, and resolves. */
export async function resolveApt(base: BaseFiles, packages: readonly string[], options: AptOptions): Promise<AptPlan> {
  const architecture = debianArchitecture(options.platform);
  const { os, sources } = baseSources(base, options.mirror);
  const installed = installedFromFiles(base.files);
  const fetchOptions = options.signal ? { signal: options.signal } : {};
  const usable = sources.filter((s) => s.architectures === undefined || s.architectures.includes(architecture));
  const releases = await Promise.all(
    usable.map(async (entry): Promise<{ entry: SourceEntry; release: Release }> => {
      const release = await fetchRelease(entry, base, fetchOptions);
      options.onEvent?.({ kind: "release", url: `${release.base}/InRelease`, signedBy: release.signedBy });
      return { entry, release };
    }),
  );
  const jobs: { entry: SourceEntry; release: Release; component: string; path: string }[] = [];
  for (const { entry, release } of releases) {
    if (release.architectures.length > 0 && !release.architectures.includes(architecture) && entry.components.length > 0) {
      throw new AptError("APT_ARCHITECTURE", `${release.base} has no packages for ${architecture} (it has ${release.architectures.join(", ")})`, {
        hint: "build for a platform the distribution supports",
      });
    }
    for (const component of entry.components.length > 0 ? entry.components : [""]) {
      for (const path of indexPaths(release, component, architecture)) jobs.push({ entry, release, component, path });
    }
  }
  const lists = await Promise.all(
    jobs.map(async (job) => {
      const list = await loadIndex({ release: job.release, archive: job.entry.uri, component: job.component, architecture }, job.path, options.cacheDir, fetchOptions);
      options.onEvent?.({ kind: "index", url: `${job.release.base}/${job.path}`, packages: list.length });
      return list;
    }),
  );
  const universe = buildUniverse(
    (function* () {
      for (const list of lists) yield* list;
    })(),
    architecture,
  );
  const resolution = resolvePackages(parseRequests(packages), universe, installed.packages);
  options.onEvent?.({ kind: "resolved", install: resolution.install.map((p) => `${p.name}=${p.version}`), alreadyInstalled: resolution.alreadyInstalled });
  return { architecture, os, sources, installed, resolution, base };
}

/** The resolved packages as a step key names them. */
export function aptPackageRecords(plan: AptPlan): AptPackageRecord[] {
  return plan.resolution.install.map((p: IndexPackage) => ({ name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256 }));
}

export interface AptLayerResult {
  /** The layer's entries (files refer to unpacked package data in the cache). */
  readonly entries: LayerEntry[];
  readonly packages: readonly AptPackageRecord[];
  readonly warnings: readonly string[];
}

/** Downloads, unpacks and assembles the plan's packages into layer entries. */
export async function aptLayerEntriesFor(plan: AptPlan, options: Pick<AptOptions, "cacheDir" | "onEvent" | "signal">): Promise<AptLayerResult> {
  const downloaded = await downloadDebs(plan.resolution.install, { cacheDir: options.cacheDir, ...(options.signal ? { signal: options.signal } : {}) });
  const prepared: PreparedPackage[] = [];
  for (const deb of downloaded) {
    options.onEvent?.({ kind: "download", name: deb.pkg.name, version: deb.pkg.version, fromCache: deb.fromCache });
    prepared.push({ pkg: deb.pkg, control: await readDebControl(deb.path), unpacked: await unpackDeb(deb.path, deb.pkg.sha256, options.cacheDir) });
  }
  const { entries, warnings } = await aptLayerEntries({ base: plan.base, installed: plan.installed, packages: prepared, architecture: plan.architecture });
  const upgrades = plan.resolution.upgrades.map((u) => `${u.name} ${u.from} -> ${u.to}`);
  return {
    entries,
    packages: aptPackageRecords(plan),
    warnings: [...(upgrades.length > 0 ? [`base packages upgraded in the apt layer: ${upgrades.join(", ")}`] : []), ...warnings],
  };
}

/** Both steps at once: `{ entries, packages, warnings }` for the requested packages on this base. */
export async function aptLayers(base: BaseFiles, packages: readonly string[], options: AptOptions): Promise<AptLayerResult & { plan: AptPlan }> {
  const plan = await resolveApt(base, packages, options);
  return { ...(await aptLayerEntriesFor(plan, options)), plan };
}
