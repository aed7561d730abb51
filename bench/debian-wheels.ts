// Realistic wheels for the benchmarks, made from Debian bookworm's own builds: there is no PyPI
// here, but deb.debian.org is reachable, and Debian's python3-* packages are real compiled
// packages for CPython 3.11 (the interpreter of the Debian test base). Each package's
// /usr/lib/python3/dist-packages tree is repackaged as a wheel (METADATA, WHEEL, RECORD) tagged
// cp311-cp311-manylinux_2_36_<arch> when it holds extension modules (bookworm's glibc is 2.36),
// py3-none-any otherwise. Cached per architecture under ~/.cache/imagespec-bench (or
// $IMAGESPEC_BENCH_CACHE); the .debs come from `apt-get download` run against a private apt state
// (lists and cache in the bench cache, never the machine's own), so arm64 works on an amd64 host
// without `dpkg --add-architecture`.
//
// The wheels carry no Requires-Dist (the specs list every package), and the compiled modules link
// against Debian's shared libraries (libblas, liblapack, libgfortran ...) rather than bundling them
// as manylinux wheels do: they are for building and pushing images, not for importing numpy in them.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import { buildWheel, type WheelContent } from "../test/support/wheels.js";
import { run, runOk } from "../test/support/tools.js";

export type WheelArch = "amd64" | "arm64";

/** Debian package -> wheel project name. The scientific stack of the baseline, and requests. */
export const DEBIAN_PACKAGES: Record<string, string[]> = {
  numpy: ["python3-numpy"],
  scipy: ["python3-scipy"],
  pandas: ["python3-pandas", "python3-pandas-lib"],
  "scikit-learn": ["python3-sklearn", "python3-sklearn-lib"],
  joblib: ["python3-joblib"],
  threadpoolctl: ["python3-threadpoolctl"],
  "python-dateutil": ["python3-dateutil"],
  pytz: ["python3-tz"],
  six: ["python3-six"],
  requests: ["python3-requests"],
  urllib3: ["python3-urllib3"],
  idna: ["python3-idna"],
  certifi: ["python3-certifi"],
  "charset-normalizer": ["python3-charset-normalizer"],
};

export interface DebianWheels {
  dir: string;
  arch: WheelArch;
  /** project -> { file, version, bytes } */
  wheels: Record<string, { file: string; version: string; bytes: number; debs: string[] }>;
  fromCache: boolean;
}

const CACHE_VERSION = 1;

export function benchCacheRoot(): string {
  return process.env.IMAGESPEC_BENCH_CACHE ?? join(homedir(), ".cache", "imagespec-bench");
}

async function filesUnder(root: string, dir = root, out: Record<string, WheelContent> = {}, skipped: string[] = []): Promise<Record<string, WheelContent>> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const rel = relative(root, path);
    if (entry.isDirectory()) {
      // Debian's own metadata and byte-code caches stay out: the wheel gets its own dist-info.
      if (/\.(egg|dist)-info$/.test(entry.name) || entry.name === "__pycache__") continue;
      await filesUnder(root, path, out, skipped);
    } else if (entry.isFile()) {
      if (/\.egg-info$/.test(entry.name)) continue;
      const st = await lstat(path);
      out[rel] = { content: await readFile(path), mode: 0o100000 | (st.mode & 0o777) };
    } else {
      skipped.push(rel);
    }
  }
  return out;
}

/** `1:1.24.2-1+deb12u1` -> `1.24.2`; `1.5.3+dfsg-2` -> `1.5.3`. */
function upstreamVersion(debian: string): string {
  const noEpoch = debian.replace(/^\d+:/, "");
  const upstream = noEpoch.includes("-") ? noEpoch.slice(0, noEpoch.lastIndexOf("-")) : noEpoch;
  return upstream.replace(/[+~].*$/, "");
}

/** Downloads the .debs for `arch` (private apt state) and writes one wheel per project into the cache. */
export async function debianWheels(arch: WheelArch, log: (line: string) => void = () => {}): Promise<DebianWheels> {
  const root = join(benchCacheRoot(), `debian-wheels-v${CACHE_VERSION}-${arch}`);
  const dir = join(root, "wheels");
  const manifestPath = join(root, "wheels.json");
  if (existsSync(manifestPath)) {
    return { ...(JSON.parse(await readFile(manifestPath, "utf8")) as Omit<DebianWheels, "fromCache">), fromCache: true };
  }
  if ((await run("apt-get", ["--version"])).code !== 0) throw new Error("apt-get is not installed: the realistic wheels are made from Debian packages");
  const started = Date.now();
  const work = join(root, "work");
  await rm(work, { recursive: true, force: true });
  const lists = join(work, "apt", "lists");
  const cache = join(work, "apt", "cache");
  const debs = join(work, "debs");
  await mkdir(join(lists, "partial"), { recursive: true });
  await mkdir(join(cache, "archives", "partial"), { recursive: true });
  await mkdir(debs, { recursive: true });
  // The machine's sources.list, but lists, cache and (empty) dpkg status of our own.
  const aptOptions = ["-o", `Dir::State::Lists=${lists}`, "-o", `Dir::Cache=${cache}`, "-o", `APT::Architectures::=${arch}`, "-o", `APT::Architecture=${arch}`, "-o", "Dir::State::status=/dev/null", "-q"];
  log(`debian-wheels: apt-get update for ${arch} (private lists) ...`);
  await runOk("apt-get", [...aptOptions, "update"], { timeoutMs: 300_000 });
  const all = Object.values(DEBIAN_PACKAGES).flat();
  log(`debian-wheels: apt-get download ${all.length} packages for ${arch} ...`);
  await runOk("apt-get", [...aptOptions, "download", ...all.map((p) => `${p}:${arch}`)], { cwd: debs, timeoutMs: 600_000 });
  const debFiles = await readdir(debs);

  const wheels: DebianWheels["wheels"] = {};
  await mkdir(dir, { recursive: true });
  const machine = arch === "amd64" ? "x86_64" : "aarch64";
  for (const [project, packages] of Object.entries(DEBIAN_PACKAGES)) {
    const files: Record<string, WheelContent> = {};
    let version: string | undefined;
    const used: string[] = [];
    for (const pkg of packages) {
      const deb = debFiles.find((f) => f.startsWith(`${pkg}_`));
      if (!deb) throw new Error(`apt-get download gave no ${pkg} for ${arch}`);
      used.push(deb);
      const tree = join(work, "x", pkg);
      await mkdir(tree, { recursive: true });
      await runOk("dpkg-deb", ["-x", join(debs, deb), tree]);
      const site = join(tree, "usr", "lib", "python3", "dist-packages");
      if (existsSync(site)) Object.assign(files, await filesUnder(site));
      if (pkg === packages[0]) {
        const v = (await runOk("dpkg-deb", ["-f", join(debs, deb), "Version"])).stdout.trim();
        version = upstreamVersion(v);
      }
    }
    const compiled = Object.keys(files).some((f) => f.endsWith(".so"));
    const tag = compiled ? `cp311-cp311-manylinux_2_36_${machine}` : "py3-none-any";
    const built = await buildWheel(dir, { name: project, version: version!, tag, files, rootIsPurelib: !compiled, requiresPython: ">=3.9" });
    wheels[project] = { file: built.filename, version: built.version, bytes: built.size, debs: used };
    log(`debian-wheels: ${built.filename} ${(built.size / 1e6).toFixed(1)} MB`);
  }
  const result = { dir, arch, wheels };
  await writeFile(`${manifestPath}.tmp`, JSON.stringify(result, null, 2));
  await rename(`${manifestPath}.tmp`, manifestPath);
  await rm(work, { recursive: true, force: true });
  log(`debian-wheels: ${arch} wheels ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { ...result, fromCache: false };
}

/** A short content hash of the wheel set (printed with the results). */
export function wheelsSummary(w: DebianWheels): string {
  const total = Object.values(w.wheels).reduce((n, x) => n + x.bytes, 0);
  const hash = createHash("sha256").update(JSON.stringify(w.wheels)).digest("hex").slice(0, 12);
  return `${Object.keys(w.wheels).length} wheels, ${(total / 1e6).toFixed(1)} MB (set ${hash})`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arch = (process.argv[2] ?? "amd64") as WheelArch;
  const w = await debianWheels(arch, (l) => process.stderr.write(`${l}\n`));
  process.stdout.write(`${w.dir}: ${wheelsSummary(w)}\n`);
}
