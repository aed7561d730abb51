// `Packages` indexes: chosen from a verified Release by the hash it lists (xz, then gz, then
// plain), fetched by hash (Acquire-By-Hash) into the content-addressed cache, decompressed and
// parsed into the fields resolution needs. Several indexes (components, suites) make one universe.
import { createReadStream } from "node:fs";
import { AptError } from "./errors.js";
import { compressionOf, decompress } from "./decompress.js";
import { fetchByHash, type FetchOptions } from "./fetch.js";
import type { Release, ReleaseFile } from "./release.js";

/** One package of an index, with what resolution and download need. */
export interface IndexPackage {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
  readonly multiArch?: string;
  readonly depends?: string;
  readonly preDepends?: string;
  readonly provides?: string;
  readonly priority?: string;
  readonly essential?: boolean;
  /** Path below the archive root, `pool/main/j/jq/jq_1.6-2.1_amd64.deb`. */
  readonly filename: string;
  readonly size: number;
  readonly sha256: string;
  /** Archive root the filename is relative to. */
  readonly archive: string;
}

const WANTED = new Set(["package", "version", "architecture", "multi-arch", "depends", "pre-depends", "provides", "priority", "essential", "filename", "size", "sha256"]);

/** Parses Packages text; paragraphs without a Filename and SHA256 are skipped. */
export function parsePackagesIndex(text: string, archive: string): IndexPackage[] {
  const out: IndexPackage[] = [];
  let start = 0;
  const n = text.length;
  while (start < n) {
    let end = text.indexOf("\n\n", start);
    if (end < 0) end = n;
    const block = text.slice(start, end);
    start = end + 2;
    if (block.trim() === "") continue;
    const values: Record<string, string> = {};
    let last: string | undefined;
    for (const line of block.split("\n")) {
      if (line === "") continue;
      if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) {
        if (last !== undefined) values[last] += ` ${line.trim()}`;
        continue;
      }
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const key = line.slice(0, colon).toLowerCase();
      if (!WANTED.has(key)) {
        last = undefined;
        continue;
      }
      values[key] = line.slice(colon + 1).trim();
      last = key;
    }
    const { package: name, version, filename, sha256 } = values;
    if (name === undefined || version === undefined || filename === undefined || sha256 === undefined) continue;
    out.push({
      name,
      version,
      architecture: values.architecture ?? "all",
      ...(values["multi-arch"] !== undefined ? { multiArch: values["multi-arch"] } : {}),
      ...(values.depends !== undefined ? { depends: values.depends } : {}),
      ...(values["pre-depends"] !== undefined ? { preDepends: values["pre-depends"] } : {}),
      ...(values.provides !== undefined ? { provides: values.provides } : {}),
      ...(values.priority !== undefined ? { priority: values.priority } : {}),
      ...(values.essential === "yes" ? { essential: true } : {}),
      filename,
      size: Number(values.size ?? "0"),
      sha256: sha256.toLowerCase(),
      archive,
    });
  }
  return out;
}

/** The best listed file for an index path without suffix: xz, then gz, then uncompressed. */
export function pickIndexFile(release: Release, path: string): ReleaseFile | undefined {
  for (const suffix of [".xz", ".gz", ""]) {
    const file = release.files.get(`${path}${suffix}`);
    if (file !== undefined) return file;
  }
  return undefined;
}

export interface IndexRequest {
  readonly release: Release;
  /** Archive root (`http://deb.debian.org/debian`), for package file names. */
  readonly archive: string;
  /** `main`, or "" for a flat repository. */
  readonly component: string;
  readonly architecture: string;
}

/** Index paths of one component and architecture: binary-ARCH, plus binary-all when the archive keeps arch-all packages apart. */
export function indexPaths(release: Release, component: string, architecture: string): string[] {
  const prefix = component === "" ? "" : `${component}/`;
  if (component === "") return ["Packages"];
  const paths = [`${prefix}binary-${architecture}/Packages`];
  // apt reads binary-all only where the Release lists `all` among its architectures (or lists none)
  // and does not say arch-all packages are in each binary-ARCH index.
  const allListed = release.architectures.length === 0 || release.architectures.includes("all");
  if (allListed && !release.allInArchIndexes && pickIndexFile(release, `${prefix}binary-all/Packages`) !== undefined) paths.push(`${prefix}binary-all/Packages`);
  return paths;
}

/** Fetches (or finds in the cache) and parses one index file. */
export async function loadIndex(request: IndexRequest, path: string, cacheDir: string, options: FetchOptions = {}): Promise<IndexPackage[]> {
  const file = pickIndexFile(request.release, path);
  if (file === undefined) {
    throw new AptError("APT_NO_INDEX", `${request.release.base}/InRelease lists no ${path}`, {
      hint: `the archive has no packages for ${request.architecture} in ${request.component || "this repository"}; check the platform and the apt sources`,
    });
  }
  const dir = file.path.slice(0, file.path.lastIndexOf("/") + 1);
  const urls = [
    ...(request.release.acquireByHash ? [`${request.release.base}/${dir}by-hash/SHA256/${file.sha256}`] : []),
    `${request.release.base}/${file.path}`,
  ];
  const { path: local } = await fetchByHash(urls, { sha256: file.sha256, size: file.size, what: `${request.release.base}/${file.path}` }, cacheDir, options);
  const compression = compressionOf(file.path) ?? "none";
  const chunks: Buffer[] = [];
  for await (const chunk of decompress(createReadStream(local), compression, file.path)) chunks.push(chunk as Buffer);
  return parsePackagesIndex(Buffer.concat(chunks).toString("utf8"), request.archive);
}
