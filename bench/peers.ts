// imagespec against its peers, side by side on the same inputs, on this machine (issues 10 and 17).
//
//   npm run bench                               every scenario, results appended to bench/RESULTS.md
//   npm run bench:cold  (or :noop :warm :fresh :shared :push :compress :memory :cross)
//   node --import tsx bench/peers.ts [scenario ...] [--reps N] [--no-results]
//
// Scenarios (see bench/README.md for what each measures):
//   cold      Python image from empty caches: imagespec native vs `buildah build` + `buildah push`
//             of the Dockerfile imagespec generates (flytekit's way)
//   noop      the same spec again, the image exists: whole `imagespec build` process, requests
//   warm      one source file changed, local caches kept (buildah --layers)
//   fresh     one source file changed, local caches emptied (a CI runner), registry has the image
//   shared    a second spec sharing the big packages, to another and to the same repository:
//             layers shared by digest, bytes uploaded against bytes new to the registry
//   push      a 1 GiB file (compressible, incompressible) packed, gzipped and pushed: imagespec
//             build vs skopeo copy, cores used; and the transfer alone (imagespec copy vs skopeo)
//   compress  imagespec's gzip against pigz and gzip on the same data (bench/compress.ts)
//   memory    peak RSS pushing a 2 GiB layer (bench/push-memory.ts)
//   cross     linux/arm64 on this amd64 machine: imagespec native vs buildah + qemu-user-static
//
// imagespec runs as the built CLI as installed (`node <package.json's bin> build`, built by this
// script with `npm run build`), a whole process per build as users run it. buildah runs as the CLI too:
// `buildah --root R --runroot R --storage-driver overlay build --isolation chroot --layers` then
// `buildah push`, storage and its cache mounts (TMPDIR) in temp dirs of the run. Each side pushes
// to its own repository of the same local docker-registry; the registry's access log says what was
// uploaded. Fixtures: test/support (registry, Debian python base, PEP 503 index) and
// bench/debian-wheels.ts (wheels repackaged from Debian's python3-* builds).
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import { buildImage, specDockerfile, writeContext, type PythonStepProgress } from "../src/build/index.js";
import type { Registry } from "../src/registry/index.js";
import { ImageSpec } from "../src/spec/index.js";
import { registryFor } from "../test/registry/util.js";
import { debianPythonBase } from "../test/support/debian-base.js";
import { startPypiIndex, type PypiIndex } from "../test/support/pypi-index.js";
import { startRegistry, type TestRegistry } from "../test/support/registry.js";
import { removeDir, run, tempDir } from "../test/support/tools.js";
import { benchCacheRoot, debianWheels, wheelsSummary, type DebianWheels, type WheelArch } from "./debian-wheels.js";
import {
  appendResults,
  busyCores,
  fmtBytes,
  fmtMethods,
  fmtSeconds,
  fmtStats,
  load,
  log,
  machineLines,
  measure,
  measureOk,
  MIB,
  registryBlobs,
  ROOT,
  SCALE,
  scaled,
  stats,
  table,
  timed,
  unmountUnder,
  uploadsOf,
  type Measured,
  type Stats,
  type Uploads,
} from "./lib.js";

const SCENARIOS = ["cold", "noop", "warm", "fresh", "shared", "push", "compress", "memory", "cross"] as const;
type Scenario = (typeof SCENARIOS)[number];

const argv = process.argv.slice(2);
const repsArg = argv.indexOf("--reps");
const REPS_OVERRIDE = repsArg >= 0 ? Number(argv[repsArg + 1]) : undefined;
const NO_RESULTS = argv.includes("--no-results");
const chosen = argv.filter((a, i) => !a.startsWith("--") && argv[i - 1] !== "--reps");
for (const c of chosen) if (!SCENARIOS.includes(c as Scenario)) throw new Error(`unknown scenario ${c}; one of ${SCENARIOS.join(", ")}`);
const selected: Scenario[] = chosen.length > 0 ? (chosen as Scenario[]) : [...SCENARIOS];
const reps = (fallback: number): number => REPS_OVERRIDE ?? fallback;

/** The big packages (compiled) and the rest; requests and its dependencies go in requirements.txt. */
const SCIENCE = ["numpy", "scipy", "pandas", "scikit-learn", "joblib", "threadpoolctl", "python-dateutil", "pytz", "six"];
const REQUESTS = ["requests", "urllib3", "idna", "certifi", "charset-normalizer"];

// ---------------------------------------------------------------------------------------------
// Report

interface Section {
  title: string;
  measures: string;
  lines: string[];
  verdicts: string[];
}

const sections: Section[] = [];
const verdictSummary: string[] = [];

function verdict(target: string, met: boolean | undefined, detail: string): string {
  const word = met === undefined ? "NOT MEASURED" : met ? "met" : "MISSED";
  const line = `target "${target}": **${word}** — ${detail}`;
  verdictSummary.push(line);
  return line;
}

function ratioLine(ours: Stats, theirs: Stats): string {
  const r = ours.median / theirs.median;
  return `${r.toFixed(3)} (imagespec median ÷ peer median; peer ÷ imagespec = ${(1 / r).toFixed(2)})`;
}

// ---------------------------------------------------------------------------------------------
// Fixtures shared by the scenarios of one run

interface Fixture {
  work: string;
  /** The compiled CLI, or tsx when the build failed. */
  cli: string[];
  cliNote: string;
  wheels: DebianWheels;
  index: PypiIndex;
  /** OCI layout holding the Debian python base + python3-pip (pip for the Dockerfile build). */
  pipBaseLayout: string;
  pipBaseNote: string;
}

let fixture: Fixture | undefined;
const cleanups: (() => Promise<void>)[] = [];

/** The installed command as users run it: whatever `bin.imagespec` in package.json points to. */
async function binPath(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { bin?: string | Record<string, string> };
  const bin = typeof pkg.bin === "string" ? pkg.bin : pkg.bin?.imagespec;
  if (bin === undefined) throw new Error("package.json has no bin.imagespec");
  return join(ROOT, bin);
}

async function compileCli(): Promise<{ cli: string[]; note: string }> {
  log("building the CLI (npm run build) ...");
  const r = await run("npm", ["run", "build"], { cwd: ROOT, timeoutMs: 300_000 });
  const bin = await binPath();
  const shown = `\`node ${bin.slice(ROOT.length + 1)}\` (package.json's bin)`;
  if (r.code === 0) return { cli: [process.execPath, bin], note: `the built CLI as installed, ${shown}, built by this run with \`npm run build\`` };
  if (existsSync(bin)) {
    return { cli: [process.execPath, bin], note: `the built CLI as installed, ${shown}; NOTE: \`npm run build\` failed in this run (${(r.stderr || r.stdout).trim().split("\n")[0]}), so dist/ is from an earlier build` };
  }
  return { cli: [process.execPath, "--import", "tsx", join(ROOT, "src", "cli", "bin.ts")], note: "`node --import tsx src/cli/bin.ts` (the build failed and there is no dist/: times include tsx start-up)" };
}

async function getFixture(): Promise<Fixture> {
  if (fixture) return fixture;
  const work = await tempDir("imagespec-bench-peers-");
  cleanups.push(async () => {
    await unmountUnder(work);
    await removeDir(work);
  });
  const { cli, note } = await compileCli();
  const wheels = await debianWheels("amd64", log);
  const index = await startPypiIndex({ dir: wheels.dir });
  cleanups.push(() => index.stop());
  const { layout, note: pipNote } = await pipBase();
  fixture = { work, cli, cliNote: note, wheels, index, pipBaseLayout: layout, pipBaseNote: pipNote };
  return fixture;
}

/**
 * The Debian python test base plus python3-pip, as an OCI layout cached in the bench cache: the
 * Dockerfile's `python3 -m pip install` needs pip in the image (uv's image is not reachable here).
 * Both sides build on it. Made once with imagespec's own apt step (packages from deb.debian.org).
 */
async function pipBase(): Promise<{ layout: string; note: string }> {
  const amd64 = await debianPythonBase({ arch: "amd64" });
  const dir = join(benchCacheRoot(), `pip-base-${amd64.digest.slice(7, 19)}`);
  const layout = join(dir, "layout");
  if (existsSync(join(dir, "done"))) return { layout, note: `Debian bookworm python3 test base (${amd64.digest.slice(0, 19)}) + python3-pip, cached in ${dir}` };
  log("making the base with pip (imagespec apt step, packages from deb.debian.org) ...");
  const reg = await startRegistry({ mode: "plain" });
  const { registry } = registryFor(reg);
  try {
    await registry.copy(amd64.ref, `${reg.host}/debian/python:3.11`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const spec = new ImageSpec({ name: "python-pip", registry: `${reg.host}/debian`, baseImage: `${reg.host}/debian/python:3.11`, aptPackages: ["python3-pip"] }, { baseDir: dir });
    await buildImage(spec, { registry, output: `oci:${layout}:pip`, cacheDir: join(dir, "cache") });
    await rm(join(dir, "cache"), { recursive: true, force: true });
    await writeFile(join(dir, "done"), "");
  } finally {
    await registry.close();
    await reg.stop();
  }
  return { layout, note: `Debian bookworm python3 test base (${amd64.digest.slice(0, 19)}) + python3-pip, made by this run` };
}

/** A registry of its own holding the pip base at `HOST/debian/python:3.11-pip`. */
async function registryWithBase(f: Fixture): Promise<{ reg: TestRegistry; registry: Registry; base: string; stop: () => Promise<void> }> {
  const reg = await startRegistry({ mode: "plain" });
  const { registry } = registryFor(reg);
  const base = `${reg.host}/debian/python:3.11-pip`;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await registry.close();
    await reg.stop();
  };
  cleanups.push(stop);
  await registry.copy(`oci:${f.pipBaseLayout}:pip`, base);
  return { reg, registry, base, stop };
}

// ---------------------------------------------------------------------------------------------
// The project and its spec

interface Project {
  dir: string;
  /** Spec fields without the registry. */
  fields: Record<string, unknown>;
}

async function writeProject(dir: string, name: string, packages: string[], requirements: string[], base: string, indexUrl: string): Promise<Project> {
  await mkdir(join(dir, "src", "app"), { recursive: true });
  // A small but not trivial source folder: ~40 modules of ~2 kB.
  for (let i = 0; i < 40; i++) {
    const body = Array.from({ length: 40 }, (_, j) => `def f_${i}_${j}(x):\n    return x * ${j} + ${i}\n`).join("\n");
    await writeFile(join(dir, "src", "app", `mod_${i}.py`), body);
  }
  await writeFile(join(dir, "src", "app", "__init__.py"), `NAME = ${JSON.stringify(name)}\n`);
  await writeFile(join(dir, "src", "app", "version.py"), "REVISION = 0\n");
  await writeFile(join(dir, "requirements.txt"), `# the rest of the app's requirements\n${requirements.join("\n")}\n`);
  const fields = {
    name,
    baseImage: base,
    pythonVersion: "3.11",
    packages,
    requirements: "requirements.txt",
    pipIndex: indexUrl,
    sourceRoot: "src",
    env: { MODE: "bench", APP_NAME: name },
    builderOptions: { pythonInstaller: "pip" },
  };
  return { dir, fields };
}

let revision = 0;
/** The one-source-file change of the incremental scenarios. */
async function touchSource(p: Project): Promise<void> {
  revision += 1;
  await writeFile(join(p.dir, "src", "app", "version.py"), `REVISION = ${revision}  # ${new Date().toISOString()}\n`);
}

function specOf(p: Project, registryPrefix: string): ImageSpec {
  return new ImageSpec({ ...p.fields, registry: registryPrefix } as unknown as ConstructorParameters<typeof ImageSpec>[0], { baseDir: p.dir });
}

// ---------------------------------------------------------------------------------------------
// The two sides

interface Run {
  seconds: number;
  image: string;
  uploads: Uploads;
  detail?: string;
  measured?: Measured;
}

/** `imagespec build --json` as a process; what it uploaded from the registry's log. */
async function imagespecBuild(f: Fixture, reg: TestRegistry, p: Project, prefix: string, cacheDir: string, extra: string[] = []): Promise<Run> {
  const file = join(p.dir, `imagespec-${prefix.replace(/[^a-z0-9]+/gi, "-")}.json`);
  await writeFile(file, JSON.stringify({ ...p.fields, registry: `${reg.host}/${prefix}` }, null, 2));
  const home = join(f.work, "home");
  await mkdir(home, { recursive: true });
  reg.resetRequests();
  const m = await measureOk(f.cli[0]!, [...f.cli.slice(1), "build", "--json", "--cache-dir", cacheDir, ...extra, file], {
    cwd: p.dir,
    env: { PATH: process.env.PATH, HOME: home, TMPDIR: f.work },
    resources: true,
    timeoutMs: 900_000,
  });
  const result = JSON.parse(m.stdout.trim().split("\n").pop()!) as { image: string; status: string; bytesWritten: number; blobsSkipped: number };
  const uploads = await uploadsOf(reg.host, await reg.requests());
  return { seconds: m.wallSeconds, image: result.image, uploads, detail: `${result.status}, bytesWritten ${fmtBytes(result.bytesWritten)}, blobsSkipped ${result.blobsSkipped}`, measured: m };
}

interface BuildahStore {
  root: string;
  runroot: string;
  /** TMPDIR for buildah: its RUN --mount=type=cache dirs live there. */
  tmp: string;
}

async function newStore(f: Fixture, name: string): Promise<BuildahStore> {
  const dir = await tempDir(`imagespec-bench-buildah-${name}-`);
  cleanups.push(async () => {
    await unmountUnder(dir);
    await removeDir(dir);
  });
  const store = { root: join(dir, "root"), runroot: join(dir, "run"), tmp: join(dir, "tmp") };
  await mkdir(store.tmp, { recursive: true });
  void f;
  return store;
}

async function dropStore(store: BuildahStore): Promise<void> {
  const dir = join(store.root, "..");
  await unmountUnder(dir);
  await removeDir(dir);
}

/** `buildah build` + `buildah push` of the Dockerfile imagespec generates for the spec. */
async function buildahBuild(f: Fixture, reg: TestRegistry, p: Project, prefix: string, store: BuildahStore, buildArgs: string[] = []): Promise<Run & { buildSeconds: number; pushSeconds: number }> {
  const started = process.hrtime.bigint();
  const spec = specOf(p, `${reg.host}/${prefix}`);
  const generated = await specDockerfile(spec);
  const context = await writeContext(generated, f.work);
  const global = ["--root", store.root, "--runroot", store.runroot, "--storage-driver", "overlay"];
  const env = { PATH: process.env.PATH, HOME: join(f.work, "home"), TMPDIR: store.tmp };
  reg.resetRequests();
  try {
    const build = await measureOk("buildah", [...global, "build", "--isolation", "chroot", "--layers", ...buildArgs, "--tls-verify=false", "-f", context.dockerfile, "-t", generated.image, context.dir], { env, timeoutMs: 900_000 });
    const push = await measureOk("buildah", [...global, "push", "--tls-verify=false", generated.image, `docker://${generated.image}`], { env, timeoutMs: 900_000 });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const uploads = await uploadsOf(reg.host, await reg.requests());
    return { seconds, buildSeconds: build.wallSeconds, pushSeconds: push.wallSeconds, image: generated.image, uploads };
  } finally {
    await context.remove();
  }
}

/** Runs `a` and `b` `n` times, alternating which goes first. */
async function alternate<A, B>(n: number, a: (i: number) => Promise<A>, b: (i: number) => Promise<B>, before?: (i: number) => Promise<void>): Promise<{ a: A[]; b: B[] }> {
  const as: A[] = [];
  const bs: B[] = [];
  for (let i = 0; i < n; i++) {
    if (before) await before(i);
    if (i % 2 === 0) {
      as.push(await a(i));
      bs.push(await b(i));
    } else {
      bs.push(await b(i));
      as.push(await a(i));
    }
  }
  return { a: as, b: bs };
}

function runRows(label: string, runs: readonly Run[]): string[] {
  return runs.map((r, i) => `${label} #${i + 1}: ${fmtSeconds(r.seconds)}, uploaded ${r.uploads.blobs.length} blobs ${fmtBytes(r.uploads.blobBytes)} + ${r.uploads.manifestPuts} manifests, mounted ${r.uploads.mounted}; requests ${fmtMethods(r.uploads.byMethod)}${r.detail ? `; ${r.detail}` : ""}`);
}

function timeTable(ours: readonly Run[], theirs: readonly Run[], peer: string): string {
  const o = stats(ours.map((r) => r.seconds));
  const t = stats(theirs.map((r) => r.seconds));
  const ob = stats(ours.map((r) => r.uploads.blobBytes));
  const tb = stats(theirs.map((r) => r.uploads.blobBytes));
  return table(
    ["side", "time median", "min", "max", "n", "bytes uploaded (median)"],
    [
      ["imagespec native", fmtSeconds(o.median), fmtSeconds(o.min), fmtSeconds(o.max), String(o.n), fmtBytes(ob.median)],
      [peer, fmtSeconds(t.median), fmtSeconds(t.min), fmtSeconds(t.max), String(t.n), fmtBytes(tb.median)],
    ],
    [1, 2, 3, 4, 5],
  );
}

// ---------------------------------------------------------------------------------------------
// A session: the app built once on both sides in one registry, caches kept (noop/warm/fresh/shared)

interface Session {
  reg: TestRegistry;
  registry: Registry;
  base: string;
  project: Project;
  nativeCache: string;
  store: BuildahStore;
  lastNative?: Run;
  lastBuildah?: Run;
}

let session: Session | undefined;

async function getSession(f: Fixture): Promise<Session> {
  if (session) return session;
  const { reg, registry, base } = await registryWithBase(f);
  const project = await writeProject(join(f.work, "session-project"), "bench-app", SCIENCE, REQUESTS, base, f.index.url);
  const nativeCache = join(f.work, "session-native-cache");
  const store = await newStore(f, "session");
  log("session: first build on both sides (untimed seed) ...");
  const lastNative = await imagespecBuild(f, reg, project, "native", nativeCache);
  const lastBuildah = await buildahBuild(f, reg, project, "buildah", store);
  session = { reg, registry, base, project, nativeCache, store, lastNative, lastBuildah };
  return session;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function cold(): Promise<Section> {
  const f = await getFixture();
  const n = reps(3);
  const loads: string[] = [`before: ${load()}`];
  const project = await writeProject(join(f.work, "cold-project"), "bench-app", SCIENCE, REQUESTS, "BASE", f.index.url);
  const withRegistry = async <T>(fn: (reg: TestRegistry, base: string) => Promise<T>): Promise<T> => {
    const r = await registryWithBase(f);
    try {
      project.fields.baseImage = r.base;
      return await fn(r.reg, r.base);
    } finally {
      await r.stop();
    }
  };
  const { a: ours, b: theirs } = await alternate(
    n,
    (i) =>
      withRegistry(async (reg) => {
        log(`cold #${i + 1}: imagespec`);
        const cache = join(f.work, `cold-cache-${i}`);
        try {
          return await imagespecBuild(f, reg, project, "native", cache);
        } finally {
          await rm(cache, { recursive: true, force: true });
        }
      }),
    (i) =>
      withRegistry(async (reg) => {
        log(`cold #${i + 1}: buildah`);
        const store = await newStore(f, `cold${i}`);
        try {
          const r = await buildahBuild(f, reg, project, "buildah", store);
          return { ...r, detail: `build ${fmtSeconds(r.buildSeconds)} + push ${fmtSeconds(r.pushSeconds)}` };
        } finally {
          await dropStore(store);
        }
      }),
  );
  loads.push(`after: ${load()}`);
  const timeline = await withRegistry((reg) => coldTimeline(f, reg, project)).catch((e: unknown) => `timeline failed: ${(e as Error).message.split("\n")[0]}`);
  const floors: Floor[] = [];
  for (let i = 0; i < reps(2); i++) {
    log(`cold: physical floor #${i + 1}`);
    floors.push(await physicalFloor(f));
  }
  loads.push(`after the floor: ${load()}`);
  const floor = floors.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const o = stats(ours.map((r) => r.seconds));
  const t = stats(theirs.map((r) => r.seconds));
  const ratio = o.median / t.median;
  const floorRatio = o.median / floor.seconds;
  const floorLine = `physical floor (fastest of ${floors.length}: ${floors.map((x) => fmtSeconds(x.seconds)).join(", ")}): ${fmtSeconds(floor.seconds)} = unzip the ${Object.keys(f.wheels.wheels).length} wheels ${fmtSeconds(floor.unzipSeconds)} (2 at a time) + tar and compress the ${fmtBytes(floor.unpackedBytes)} unpacked to ${fmtBytes(floor.compressedBytes)} with ${floor.compressor} ${fmtSeconds(floor.compressSeconds)} (${(floor.unpackedBytes / 1e6 / floor.compressSeconds).toFixed(0)} MB/s, ${floor.cores.toFixed(2)} cores in the compressing process, tar not counted) + upload as one blob ${fmtSeconds(floor.uploadSeconds)}`;
  return {
    title: "cold build+push",
    measures: `One Python image from empty caches on both sides (and the physical floor: unzip the same wheels, tar + compress the unpacked trees with imagespec's default compressor on both cores, upload the result as one blob; timed one after the other): the pip base, packages ${SCIENCE.join(", ")} on the spec, ${REQUESTS.join(", ")} in requirements.txt (Debian-built wheels, see above), a 42-file source folder (sourceRoot), env. Each repetition gets a fresh registry holding only the base, a fresh imagespec cache dir / a fresh buildah storage and TMPDIR (its pip cache mount). imagespec: the CLI process; buildah: build (pull base, pip install from the local index, COPY) + push, the Dockerfile from specDockerfile().`,
    lines: [timeTable(ours, theirs, "buildah build + push"), "", `- ratio: ${ratioLine(o, t)}`, `- ${floorLine}; imagespec ÷ floor = ${floorRatio.toFixed(2)}`, ...runRows("imagespec", ours).map((l) => `- ${l}`), ...runRows("buildah", theirs).map((l) => `- ${l}`), `- where imagespec's cold time goes (one more cold build, in-process through buildImage, untimed above; seconds since the start when each kind of event was first and last seen): ${timeline}`, `- load average (1/5/15 min) ${loads.join(", ")}`],
    verdicts: [
      verdict("cold build+push: imagespec at most 1/3 of buildah's time", ratio <= 1 / 3, `ratio ${ratio.toFixed(3)} against ≤ 0.333${ratio <= 1 / 3 ? ` (${(1 / ratio).toFixed(1)}× faster)` : ` (${(ratio * 3).toFixed(2)}× over the target)`}`),
      verdict("cold build+push: within 1.5× of the physical floor", floorRatio <= 1.5, `ratio ${floorRatio.toFixed(2)} against ≤ 1.50 (imagespec median ${fmtSeconds(o.median)}, floor ${fmtSeconds(floor.seconds)})${floorRatio <= 1.5 ? "" : `, ${fmtSeconds(o.median - 1.5 * floor.seconds)} over`}`),
    ],
  };
}

interface Floor {
  unzipSeconds: number;
  compressSeconds: number;
  uploadSeconds: number;
  seconds: number;
  unpackedBytes: number;
  compressedBytes: number;
  compressor: string;
  cores: number;
}

/**
 * The physical floor of the cold build: what any tool has to do with the cold app's wheels at the
 * least. Unzip all of them (two unzips at a time, one per core), compress the unpacked trees as one
 * tar with imagespec's chosen compressor on both cores, and upload the compressed bytes as one blob
 * (POST + monolithic PUT) to a fresh local registry. The three are timed one after the other and added.
 */
async function physicalFloor(f: Fixture): Promise<Floor> {
  const dir = await tempDir("imagespec-bench-floor-");
  const { resolveCompressor, closeGzipWorkers } = await import("../src/layer/index.js");
  const { DigestingStream } = await import("../src/oci/index.js");
  try {
    const files = Object.values(f.wheels.wheels).map((w) => join(f.wheels.dir, w.file));
    const unpacked = join(dir, "site-packages");
    await mkdir(unpacked, { recursive: true });
    const unzip = await timed(async () => {
      const queue = [...files];
      const worker = async (): Promise<void> => {
        for (let file = queue.shift(); file !== undefined; file = queue.shift()) await measureOk("unzip", ["-q", "-o", file, "-d", unpacked]);
      };
      await Promise.all([worker(), worker()]);
    });
    const compressor = await resolveCompressor({});
    const blob = join(dir, "layer.tar.gz");
    const hash = new DigestingStream();
    const tarred = new DigestingStream();
    const cpuBefore = process.cpuUsage();
    const compress = await timed(async () => {
      const tar = spawn("tar", ["--sort=name", "-cf", "-", "-C", unpacked, "."], { stdio: ["ignore", "pipe", "inherit"] });
      const exited = new Promise<void>((resolve, reject) => tar.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}`)))));
      await Promise.all([pipeline(tar.stdout, tarred, compressor.create(), hash, createWriteStream(blob)), exited]);
    });
    const cpu = process.cpuUsage(cpuBefore);
    await closeGzipWorkers();
    const upload = await withFreshRegistry((reg) =>
      timed(async () => {
        const started = await fetch(`http://${reg.host}/v2/floor/blobs/uploads/`, { method: "POST" });
        const location = new URL(started.headers.get("location") ?? "", `http://${reg.host}`);
        location.searchParams.set("digest", hash.digest);
        const put = await fetch(location, {
          method: "PUT",
          headers: { "content-type": "application/octet-stream", "content-length": String(hash.size) },
          body: Readable.toWeb(createReadStream(blob)) as ReadableStream,
          duplex: "half",
        } as RequestInit);
        if (put.status !== 201) throw new Error(`the floor's blob upload got ${put.status}: ${await put.text()}`);
      }),
    );
    return {
      unzipSeconds: unzip.seconds,
      compressSeconds: compress.seconds,
      uploadSeconds: upload.seconds,
      seconds: unzip.seconds + compress.seconds + upload.seconds,
      unpackedBytes: tarred.size,
      compressedBytes: hash.size,
      compressor: compressor.id,
      // Worker threads count in this process's CPU time; tar's does not (it is a child): an underestimate.
      cores: (cpu.user + cpu.system) / 1e6 / compress.seconds,
    };
  } finally {
    await removeDir(dir);
  }
}

/**
 * The Python step's phases as timeline labels: resolving, resolved, downloading, and each layer's
 * compressing (first to last byte tick) and written (or cached), so overlapping layers show as such.
 */
function pythonPhase(p: PythonStepProgress): string {
  switch (p.phase) {
    case "resolving":
    case "resolved":
    case "downloading":
      return `python ${p.phase}`;
    case "layer":
      return `python layer ${p.index}/${p.layers} (${p.wheels} wheel${p.wheels === 1 ? "" : "s"}) ${p.status}`;
  }
}

/** One cold native build in-process with its events timed: where the time goes. */
async function coldTimeline(f: Fixture, reg: TestRegistry, p: Project): Promise<string> {
  const { registry } = registryFor(reg);
  const cache = join(f.work, "cold-timeline-cache");
  const seen = new Map<string, [number, number]>();
  const started = Date.now();
  try {
    await buildImage(specOf(p, `${reg.host}/timeline`), {
      registry,
      cacheDir: cache,
      onEvent: (e) => {
        const label =
          e.kind === "push"
            ? `push ${e.event.type} ${e.event.status}`
            : e.kind === "layer"
              ? `layer ${e.step}${e.fromCache ? " (cached)" : ""}`
              : e.kind === "python"
                ? `python step done (${e.wheels} wheels, ${e.layers} layers, resolved ${String(e.resolved)})`
                : e.kind === "python-progress"
                  ? pythonPhase(e.progress)
                  : e.kind;
        const t = (Date.now() - started) / 1000;
        const was = seen.get(label);
        seen.set(label, was ? [was[0], t] : [t, t]);
      },
    });
  } finally {
    await registry.close();
    await rm(cache, { recursive: true, force: true });
  }
  const total = (Date.now() - started) / 1000;
  return `${[...seen].map(([k, [a, b]]) => (a === b ? `${k} ${a.toFixed(1)}` : `${k} ${a.toFixed(1)}–${b.toFixed(1)}`)).join("; ")}; total ${total.toFixed(1)} s`;
}

async function noop(): Promise<Section> {
  const f = await getFixture();
  const s = await getSession(f);
  const n = reps(5);
  const loads: string[] = [`before: ${load()}`];
  const { a: ours, b: theirs } = await alternate(
    n,
    async (i) => {
      log(`noop #${i + 1}: imagespec`);
      return imagespecBuild(f, s.reg, s.project, "native", s.nativeCache);
    },
    async (i) => {
      log(`noop #${i + 1}: buildah`);
      return buildahBuild(f, s.reg, s.project, "buildah", s.store);
    },
  );
  loads.push(`after: ${load()}`);
  const { lines: diagnosis, version } = await noopDiagnosis(f, s);
  const o = stats(ours.map((r) => r.seconds));
  const t = stats(theirs.map((r) => r.seconds));
  const manifests = ours.map((r) => r.uploads.byMethod);
  const requestCounts = ours.map((r) => r.uploads.requests);
  const onlyOneManifest = ours.every((r) => r.uploads.requests === 1 && ((r.uploads.byMethod.HEAD ?? 0) === 1 || (r.uploads.byMethod.GET ?? 0) === 1));
  const statuses = ours.map((r) => r.detail ?? "").join("; ");
  const rss = stats(ours.map((r) => (r.measured?.peakKiB ?? NaN) / 1024));
  return {
    title: "no-op",
    measures: `The same spec again; the image exists (built in this session). imagespec: the whole \`imagespec build\` process (${f.cliNote}), node start-up included; requests from the registry's access log (the /v2/ ping left out). For comparison, the peer's nearest equivalent: \`buildah build --layers\` with everything cached + \`buildah push\` (buildah has no existence check of its own; flytekit checks before calling it).`,
    lines: [
      table(
        ["side", "time median", "min", "max", "n"],
        [
          ["imagespec build (whole process)", fmtSeconds(o.median), fmtSeconds(o.min), fmtSeconds(o.max), String(o.n)],
          ["buildah build (all cached) + push", fmtSeconds(t.median), fmtSeconds(t.min), fmtSeconds(t.max), String(t.n)],
        ],
        [1, 2, 3, 4],
      ),
      "",
      `- imagespec requests per run: ${manifests.map(fmtMethods).join(" / ")} (total ${requestCounts.join(", ")}); results: ${statuses}`,
      `- imagespec peak RSS: ${fmtStats(rss, (v) => `${v.toFixed(0)} MiB`)}`,
      `- ratio: ${ratioLine(o, t)}`,
      ...diagnosis.map((d) => `- ${d}`),
      `- load average (1/5/15 min) ${loads.join(", ")}`,
    ],
    verdicts: [
      verdict("no-op: under 300 ms for the whole process", o.median < 0.3, `median ${fmtSeconds(o.median)} (min ${fmtSeconds(o.min)}); ratio ${(o.median / 0.3).toFixed(2)} of the limit${o.median < 0.3 ? "" : `, ${fmtSeconds(o.median - 0.3)} over`}`),
      verdict("no-op: one manifest request per image", onlyOneManifest, `requests per run besides the /v2/ ping: ${manifests.map(fmtMethods).join(" / ")}`),
      verdict("`imagespec --version`: under 120 ms", version.median < 0.12, `median ${fmtSeconds(version.median)} of ${version.n} runs (min ${fmtSeconds(version.min)}); ratio ${(version.median / 0.12).toFixed(2)} of the limit${version.median < 0.12 ? "" : `, ${fmtSeconds(version.median - 0.12)} over`}`),
    ],
  };
}

/** Where a no-op's time goes: the start-up floor (`--version`), a CPU profile, the programs it runs. */
async function noopDiagnosis(f: Fixture, s: Session): Promise<{ lines: string[]; version: Stats }> {
  const out: string[] = [];
  const file = join(s.project.dir, "imagespec-native.json");
  const env = { PATH: process.env.PATH, HOME: join(f.work, "home"), TMPDIR: f.work };
  const times: number[] = [];
  for (let i = 0; i < Math.max(7, reps(7)); i++) times.push((await measureOk(f.cli[0]!, [...f.cli.slice(1), "--version"], { env })).wallSeconds);
  const version = stats(times);
  out.push(`\`imagespec --version\` (${f.cli.slice(1).map((a) => a.replace(`${ROOT}/`, "")).join(" ")}; start-up and nothing else): ${fmtStats(version)}`);
  const profDir = join(f.work, "noop-prof");
  await rm(profDir, { recursive: true, force: true });
  const profiled = await measure(f.cli[0]!, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, ...f.cli.slice(1), "build", "--json", "--cache-dir", s.nativeCache, file], { env, cwd: s.project.dir });
  try {
    const { readdir, readFile } = await import("node:fs/promises");
    const name = (await readdir(profDir))[0]!;
    const profile = JSON.parse(await readFile(join(profDir, name), "utf8")) as { nodes: { id: number; callFrame: { url: string; functionName: string } }[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
    const self = new Map<number, number>();
    profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
    const buckets = new Map<string, number>();
    for (const node of profile.nodes) {
      const url = node.callFrame.url;
      const bucket = url === ""
        ? node.callFrame.functionName === "(idle)" ? "idle (waiting for the network or child processes)" : node.callFrame.functionName === "(garbage collector)" ? "garbage collection" : "other native"
        : /node:internal\/(modules|deps\/cjs-module-lexer)/.test(url) ? "module loading (node's ESM/CJS loader)"
        : url.includes("/node_modules/") ? "dependencies' code (node_modules, mostly their top-level module code)"
        : url.includes("/dist/") || url.includes("/src/") ? "imagespec's own code"
        : "node internals";
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + (self.get(node.id) ?? 0));
    }
    const total = (profile.endTime - profile.startTime) / 1e6;
    out.push(`diagnosis: CPU profile of one no-op (${fmtSeconds(profiled.wallSeconds)} wall, ${fmtSeconds(total)} profiled): ${[...buckets].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmtSeconds(v / 1e6)}`).join("; ")}`);
  } catch (error) {
    out.push(`diagnosis: no CPU profile (${(error as Error).message.split("\n")[0]})`);
  }
  if ((await run("strace", ["-V"])).code === 0) {
    const trace = join(f.work, "noop-strace.txt");
    await measure("strace", ["-f", "-qq", "-e", "trace=execve", "-o", trace, f.cli[0]!, ...f.cli.slice(1), "build", "--json", "--cache-dir", s.nativeCache, file], { env, cwd: s.project.dir });
    const { readFile } = await import("node:fs/promises");
    const programs = (await readFile(trace, "utf8"))
      .split("\n")
      .map((l) => /execve\("([^"]+)", \[([^\]]*)\]/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .slice(1)
      .map((m) => `${m[1]} ${m[2]!.split(", ").slice(1, 4).join(" ").slice(0, 80)}`);
    out.push(`diagnosis: programs a no-op runs (strace -e execve): ${programs.length === 0 ? "none" : programs.map((p) => `\`${p}\``).join(", ")}`);
  }
  return { lines: out, version };
}

function uploadedKinds(run: Run, manifest: { config: { digest: string }; layers: { digest: string; size: number }[] } | undefined): string {
  if (!manifest) return "manifest not read";
  const names = run.uploads.blobs.map((b) => {
    if (b.digest === manifest.config.digest) return `config ${fmtBytes(b.size)}`;
    const at = manifest.layers.findIndex((l) => l.digest === b.digest);
    if (at >= 0) return `layer ${at + 1}/${manifest.layers.length} ${fmtBytes(b.size)}`;
    return `other ${fmtBytes(b.size)} (${b.repo})`;
  });
  return names.join(", ") || "nothing";
}

async function manifestOf(host: string, image: string): Promise<{ config: { digest: string }; layers: { digest: string; size: number }[] } | undefined> {
  const at = image.lastIndexOf(":");
  const repo = image.slice(host.length + 1, at);
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${image.slice(at + 1)}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
  });
  if (!res.ok) return undefined;
  return (await res.json()) as { config: { digest: string }; layers: { digest: string; size: number }[] };
}

async function incremental(kind: "warm" | "fresh"): Promise<Section> {
  const f = await getFixture();
  const s = await getSession(f);
  const n = reps(3);
  const loads: string[] = [`before: ${load()}`];
  const details: string[] = [];
  const { a: ours, b: theirs } = await alternate(
    n,
    async (i) => {
      log(`${kind} #${i + 1}: imagespec`);
      const cache = kind === "warm" ? s.nativeCache : join(f.work, `fresh-cache-${i}`);
      try {
        const r = await imagespecBuild(f, s.reg, s.project, "native", cache);
        details.push(`imagespec #${i + 1} uploaded: ${uploadedKinds(r, await manifestOf(s.reg.host, r.image))}`);
        return r;
      } finally {
        if (kind === "fresh") await rm(cache, { recursive: true, force: true });
      }
    },
    async (i) => {
      log(`${kind} #${i + 1}: buildah`);
      const store = kind === "warm" ? s.store : await newStore(f, `fresh${i}`);
      try {
        const r = await buildahBuild(f, s.reg, s.project, "buildah", store);
        details.push(`buildah #${i + 1} uploaded: ${uploadedKinds(r, await manifestOf(s.reg.host, r.image))}`);
        return { ...r, detail: `build ${fmtSeconds(r.buildSeconds)} + push ${fmtSeconds(r.pushSeconds)}` };
      } finally {
        if (kind === "fresh") await dropStore(store);
      }
    },
    () => touchSource(s.project),
  );
  loads.push(`after: ${load()}`);
  const o = stats(ours.map((r) => r.seconds));
  const t = stats(theirs.map((r) => r.seconds));
  const ratio = o.median / t.median;
  const verdicts: string[] = [];
  if (kind === "warm") {
    verdicts.push(verdict("incremental, warm: no slower than buildah", ratio <= 1, `ratio ${ratio.toFixed(3)}${ratio <= 1 ? "" : ` (${((ratio - 1) * 100).toFixed(0)}% slower; ${fmtSeconds(o.median - t.median)} more)`}`));
  } else {
    verdicts.push(verdict("incremental, fresh runner: at most 1/10 of buildah's time", ratio <= 0.1, `ratio ${ratio.toFixed(3)} against ≤ 0.100${ratio <= 0.1 ? "" : ` (${(ratio * 10).toFixed(2)}× over the target)`}`));
    // Only the changed source layer and manifests: the config blob is new too (it must be: new diff ID).
    const small = ours.every((r) => r.uploads.blobs.length <= 2 && r.uploads.blobBytes < 1e6);
    verdicts.push(verdict("incremental, fresh runner: only the changed source layer and manifests uploaded", small, `imagespec uploads per run: ${ours.map((r) => `${r.uploads.blobs.length} blobs ${fmtBytes(r.uploads.blobBytes)} + ${r.uploads.manifestPuts} manifest PUTs`).join(" / ")}`));
  }
  return {
    title: kind === "warm" ? "incremental, warm" : "incremental, fresh runner",
    measures:
      kind === "warm"
        ? "One source file (src/app/version.py) changed before each repetition, local caches kept on both sides (imagespec's cache dir; buildah's storage with --layers and its cache-mount TMPDIR), the registry holding the previous images. Time of the whole build+push and bytes uploaded."
        : "One source file changed before each repetition; local caches emptied on both sides (a new imagespec cache dir; a new buildah storage and TMPDIR, so buildah pulls the base and installs again), the registry holding the previous image (and imagespec's step-cache artifacts). Time and bytes uploaded.",
    lines: [timeTable(ours, theirs, "buildah build --layers + push"), "", `- ratio: ${ratioLine(o, t)}`, ...runRows("imagespec", ours).map((l) => `- ${l}`), ...runRows("buildah", theirs).map((l) => `- ${l}`), ...details.map((d) => `- ${d}`), `- load average (1/5/15 min) ${loads.join(", ")}`],
    verdicts,
  };
}

/** The big packages of the shared-layers scenario: each should be one blob that both apps' images share. */
const BIG = SCIENCE.slice(0, 4);

const listings = new Map<string, Set<string>>();

/** Python projects (PEP 503 names) whose `*.dist-info/METADATA` a layer holds, read from the registry. */
async function projectsInLayer(host: string, repo: string, layer: { digest: string; mediaType?: string }): Promise<Set<string>> {
  const known = listings.get(layer.digest);
  if (known) return known;
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${layer.digest}`);
  if (!res.ok || !res.body) throw new Error(`GET blob ${layer.digest} of ${repo}: ${res.status}`);
  const projects = new Set<string>();
  const extract = tarExtract();
  extract.on("entry", (header, stream, next) => {
    const m = /([^/]+)\.dist-info\/METADATA$/.exec(header.name);
    if (m) projects.add(m[1]!.replace(/-[^-]+$/, "").toLowerCase().replace(/[-_.]+/g, "-"));
    stream.on("end", next);
    stream.resume();
  });
  const decompress = layer.mediaType?.endsWith("zstd") ? createZstdDecompress() : createGunzip();
  await pipeline(Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0]), decompress, extract);
  listings.set(layer.digest, projects);
  return projects;
}

interface SharedRun {
  side: string;
  where: string;
  run: Run;
  /** The new image's layers (base left out) that are blobs of the first app's image of the same side. */
  shared: { count: number; of: number; bytes: number; ofBytes: number };
  /** Bytes of blobs the registry did not hold before the run (all repositories, step-cache artifacts included). */
  newBytes: number;
  /** Big package -> whether its layer in the new image is the same blob as in the first app's image. */
  bigSame: Map<string, boolean>;
}

async function shared(): Promise<Section> {
  const f = await getFixture();
  const s = await getSession(f);
  const loads: string[] = [`before: ${load()}`];
  // Same big packages, the small ones in the requirements file, no requests family, another source folder.
  const other = await writeProject(join(f.work, "shared-project"), "bench-other", BIG, SCIENCE.slice(4), s.base, f.index.url);
  const baseLayers = new Set((await manifestOf(s.reg.host, s.base))?.layers.map((l) => l.digest) ?? []);
  const repoOf = (image: string): string => image.slice(s.reg.host.length + 1, image.lastIndexOf(":"));
  /** Own (non-base) layers of an image, with the big packages each holds. */
  const ownLayers = async (image: string): Promise<{ digest: string; size: number; projects: Set<string> }[]> => {
    const manifest = (await manifestOf(s.reg.host, image)) as { layers: { digest: string; size: number; mediaType?: string }[] } | undefined;
    if (!manifest) throw new Error(`no manifest for ${image}`);
    const own = manifest.layers.filter((l) => !baseLayers.has(l.digest));
    return Promise.all(own.map(async (l) => ({ digest: l.digest, size: l.size, projects: await projectsInLayer(s.reg.host, repoOf(image), l) })));
  };
  const firstNative = await ownLayers(s.lastNative!.image);
  const firstBuildah = await ownLayers(s.lastBuildah!.image);
  const measureRun = async (side: string, where: string, first: typeof firstNative, build: () => Promise<Run>): Promise<SharedRun> => {
    await touchSource(other);
    const before = await registryBlobs(s.reg.host);
    const run = await build();
    const after = await registryBlobs(s.reg.host);
    const newBytes = [...after].filter(([d]) => !before.has(d)).reduce((n, [, size]) => n + size, 0);
    const layers = await ownLayers(run.image);
    const firstDigests = new Set(first.map((l) => l.digest));
    const same = layers.filter((l) => firstDigests.has(l.digest));
    const bigSame = new Map(BIG.map((p) => [p, layers.some((l) => l.projects.has(p) && firstDigests.has(l.digest)) && first.some((l) => l.projects.has(p))]));
    return { side, where, run, newBytes, bigSame, shared: { count: same.length, of: layers.length, bytes: same.reduce((n, l) => n + l.size, 0), ofBytes: layers.reduce((n, l) => n + l.size, 0) } };
  };
  const runs: SharedRun[] = [];
  const notes: string[] = [];
  for (const [where, name] of [["another repository", "bench-other"], ["the same repository", "bench-app"]] as const) {
    other.fields.name = name;
    log(`shared (${where}): imagespec`);
    runs.push(await measureRun("imagespec", where, firstNative, () => imagespecBuild(f, s.reg, other, "native", s.nativeCache)));
    log(`shared (${where}): buildah`);
    let buildah = await measureRun("buildah --layers", where, firstBuildah, () => buildahBuild(f, s.reg, other, "buildah", s.store));
    // The pip layer of a warm --layers cache must not be the first app's (its requirements differ).
    const pipLayers = (await ownLayers(buildah.run.image)).filter((l) => l.projects.size > 0);
    const stale = pipLayers.some((l) => l.projects.has("requests"));
    if (stale) {
      notes.push(`buildah --layers (${where}): **STALE CACHE HIT**: its pip layer holds requests, which this spec does not ask for; measured again with --no-cache`);
      buildah = await measureRun("buildah --no-cache", where, firstBuildah, () => buildahBuild(f, s.reg, other, "buildah", s.store, ["--no-cache"]));
    }
    runs.push(buildah);
  }
  loads.push(`after: ${load()}`);
  const SLACK = 64 * 1024;
  const row = (r: SharedRun): string[] => [
    `${r.side}, ${r.where}`,
    `${r.shared.count} of ${r.shared.of} (${fmtBytes(r.shared.bytes)} of ${fmtBytes(r.shared.ofBytes)})`,
    `${[...r.bigSame.values()].filter(Boolean).length} of ${BIG.length}`,
    fmtBytes(r.run.uploads.blobBytes),
    fmtBytes(r.newBytes),
    `${r.run.uploads.mounted} / ${r.run.uploads.existing}`,
    fmtSeconds(r.run.seconds),
  ];
  const ours = runs.filter((r) => r.side === "imagespec");
  const theirs = runs.filter((r) => r.side !== "imagespec");
  const verdicts = ours.flatMap((r) => {
    const missing = [...r.bigSame].filter(([, same]) => !same).map(([p]) => p);
    const extra = r.run.uploads.blobBytes - r.newBytes;
    const peer = theirs.find((t) => t.where === r.where);
    return [
      verdict(`shared layers (${r.where}): every big wheel's layer is the same blob in both images`, missing.length === 0, missing.length === 0 ? `${BIG.join(", ")}: each in a layer that the first app's image has too` : `not shared: ${missing.join(", ")}`),
      verdict(
        `shared layers (${r.where}): only new content uploaded (mounted or skipped, not re-sent)`,
        extra <= SLACK,
        `uploaded ${fmtBytes(r.run.uploads.blobBytes)} against ${fmtBytes(r.newBytes)} of blobs new to the registry (slack ${fmtBytes(SLACK)}); ${r.run.uploads.mounted} mounted, ${r.run.uploads.existing} found there; ${peer ? `buildah uploaded ${fmtBytes(peer.run.uploads.blobBytes)} (bytes ratio ${(r.run.uploads.blobBytes / peer.run.uploads.blobBytes).toFixed(3)})` : ""}`,
      ),
    ];
  });
  return {
    title: "shared layers",
    measures: `A second app (${BIG.join(", ")} on the spec, ${SCIENCE.slice(4).join(", ")} in its requirements file, no requests family, its own source folder) pushed to the registry that already holds the first app's image (built in this session), first to another repository (name bench-other), then to the same repository (name bench-app), one source file changed before each; local caches warm on both sides. Per run: the new image's own layers (base left out) that are the same blob (digest) as a layer of the first app's image of the same side; whether each big package's METADATA sits in such a shared layer (read from the layers); bytes uploaded (blob PUTs in the registry's access log; mounts and blobs found there are not uploads); and bytes new to the registry (blobs referred to by any manifest after the run and by none before, step-cache artifacts included).`,
    lines: [
      table(["side, pushed to", "own layers shared with the first app", "big wheels in a shared blob", "uploaded", "new to the registry", "mounted / found there", "time"], runs.map(row), [3, 4, 6]),
      "",
      ...notes.map((l) => `- ${l}`),
      ...runs.map((r) => `- ${r.side}, ${r.where}: ${runRows("", [r.run])[0]!.replace(/^ #1: /, "")}`),
      `- load average (1/5/15 min) ${loads.join(", ")}`,
    ],
    verdicts,
  };
}

// --- push throughput -----------------------------------------------------------------------------

/** An OCI layout with one `size`-byte file in one gzip layer (compressed by pigz -6), cached in the bench cache. */
async function bigLayerLayout(size: number, compressible: boolean, from?: string): Promise<{ layout: string; layerBytes: number; note: string }> {
  const dir = join(benchCacheRoot(), `big-layer-v1-${compressible ? "text" : "random"}-${size}`);
  const layout = join(dir, "layout");
  const { writeBigLayout } = await import("./big-layer.js");
  if (existsSync(join(dir, "done.json"))) {
    const done = JSON.parse(await readFile(join(dir, "done.json"), "utf8")) as { layerBytes: number; seconds: number };
    return { layout, layerBytes: done.layerBytes, note: `cached in ${dir} (made once in ${done.seconds.toFixed(0)} s)` };
  }
  await rm(dir, { recursive: true, force: true });
  const started = Date.now();
  const r = await writeBigLayout(dir, size, compressible, from);
  const seconds = (Date.now() - started) / 1000;
  await writeFile(join(dir, "done.json"), JSON.stringify({ layerBytes: r.layerBytes, seconds }));
  return { layout, layerBytes: r.layerBytes, note: `made by this run in ${seconds.toFixed(0)} s, cached in ${dir}` };
}

/** data/big.bin of `size` bytes and an OCI layout of its uncompressed tar, cached in the bench cache. */
async function bigSource(size: number, compressible: boolean): Promise<{ dir: string; tarLayout: string; tarBytes: number; note: string }> {
  const dir = join(benchCacheRoot(), `big-source-v1-${compressible ? "text" : "random"}-${size}`);
  const { writeBigSource } = await import("./big-layer.js");
  if (existsSync(join(dir, "done.json"))) {
    const done = JSON.parse(await readFile(join(dir, "done.json"), "utf8")) as { tarBytes: number; seconds: number };
    return { dir, tarLayout: join(dir, "tar-layout"), tarBytes: done.tarBytes, note: `cached in ${dir} (made once in ${done.seconds.toFixed(0)} s)` };
  }
  await rm(dir, { recursive: true, force: true });
  const started = Date.now();
  const r = await writeBigSource(dir, size, compressible);
  const seconds = (Date.now() - started) / 1000;
  await writeFile(join(dir, "done.json"), JSON.stringify({ tarBytes: r.tarBytes, seconds }));
  return { dir, tarLayout: r.tarLayout, tarBytes: r.tarBytes, note: `made by this run in ${seconds.toFixed(0)} s, cached in ${dir}` };
}

/** A fresh registry for one run (nothing to mount from, no blob already there), stopped afterwards. */
async function withFreshRegistry<T>(fn: (reg: TestRegistry) => Promise<T>): Promise<T> {
  const reg = await startRegistry({ mode: "plain" });
  try {
    return await fn(reg);
  } finally {
    await reg.stop();
  }
}

/**
 * Waits until what earlier runs wrote is on disk (`sync`, untimed). A run that starts while the
 * kernel is still writing back gigabytes of an earlier one is slowed by that flush: without this
 * the side that ran second paid for the first (the same build measured 7 s or 16 s by its place).
 */
async function writeBack(): Promise<void> {
  await measureOk("sync", []);
}

/**
 * Reads every file under `path` once (untimed), so a push starts with its input in the page cache
 * whatever ran before it: the two sides read different files (or, for the transfer alone, the same
 * one, the side that goes first paying for it), and this VM pages out files left idle for a minute.
 */
async function inPageCache(path: string): Promise<void> {
  const buffer = Buffer.allocUnsafe(4 << 20);
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = await open(join(entry.parentPath, entry.name), "r");
    try {
      while ((await file.read(buffer, 0, buffer.length)).bytesRead > 0);
    } finally {
      await file.close();
    }
  }
}

/** `skopeo copy` to a fresh registry, its own containers config dir, no credentials. */
async function skopeoCopy(f: Fixture, reg: TestRegistry, source: string, extra: string[], label: string): Promise<Measured> {
  const data = join(f.work, `skopeo-${label}`);
  await mkdir(data, { recursive: true });
  try {
    return await measureOk("skopeo", ["--insecure-policy", "copy", "--dest-tls-verify=false", "--dest-no-creds", ...extra, source, `docker://${reg.host}/bench/skopeo:v1`], {
      env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home", XDG_DATA_HOME: data, _CONTAINERS_ROOTLESS_UID: "65534" },
      resources: true,
      sampleCpu: true,
      timeoutMs: 900_000,
    });
  } finally {
    await rm(data, { recursive: true, force: true });
  }
}

async function push(): Promise<Section> {
  const f = await getFixture();
  // Four a side (ABBA twice): with two, one slow run of either side moved the ratio by 10-25%.
  const n = reps(4);
  const size = scaled(1024 * MIB);
  const sizeText = SCALE === 1 ? "1 GiB" : fmtBytes(size);
  const lines: string[] = [];
  const verdicts: string[] = [];
  const rows: string[][] = [];
  const transferRows: string[][] = [];
  const cores = (rs: readonly Measured[]): Stats => stats(rs.map((r) => (r.cpuSeconds ?? NaN) / r.wallSeconds));
  const busy = (rs: readonly Measured[]): Stats => stats(rs.map((r) => busyCores(r.cpuTimeline ?? [])));
  const rss = (rs: readonly Measured[]): string => `${(stats(rs.map((r) => r.peakKiB ?? NaN)).max / 1024).toFixed(0)} MiB`;
  const twoDigits = (v: number): string => v.toFixed(2);
  for (const compressible of [true, false]) {
    const kind = compressible ? "compressible" : "incompressible";
    log(`push: the ${sizeText} ${kind} file ...`);
    const source = await bigSource(size, compressible);
    const specFile = join(source.dir, "push.imagespec.json");
    const loads: string[] = [`before: ${load()}`];
    const uploaded: string[] = [];
    const noops: number[] = [];
    // Both sides: the same file (data/big.bin) in, one gzip layer out (each at its default level) to a fresh registry.
    const { a: ours, b: theirs } = await alternate(
      n,
      (i) =>
        withFreshRegistry(async (reg) => {
          log(`push ${kind} #${i + 1}: imagespec build (pack + gzip + push)`);
          await writeBack();
          await inPageCache(join(source.dir, "data"));
          await writeFile(specFile, JSON.stringify({ name: "push", registry: `${reg.host}/bench`, baseImage: "scratch", sourceRoot: "data" }, null, 2));
          const home = await tempDir("imagespec-bench-push-home-");
          try {
            const m = await measureOk(f.cli[0]!, [...f.cli.slice(1), "build", "--json", "--cache-dir", join(home, "cache"), specFile], {
              cwd: source.dir,
              env: { PATH: process.env.PATH, HOME: home, TMPDIR: home },
              resources: true,
              sampleCpu: true,
              timeoutMs: 900_000,
            });
            const u = await uploadsOf(reg.host, await reg.requests());
            uploaded.push(`imagespec #${i + 1} uploaded ${u.blobs.length} blobs ${fmtBytes(u.blobBytes)}`);
            // The same build again, untimed above: the image exists, and the big file's digest is in the cache dir.
            const again = await measureOk(f.cli[0]!, [...f.cli.slice(1), "build", "--json", "--cache-dir", join(home, "cache"), specFile], { cwd: source.dir, env: { PATH: process.env.PATH, HOME: home, TMPDIR: home } });
            const status = (JSON.parse(again.stdout.trim().split("\n").at(-1) ?? "{}") as { status?: string }).status;
            if (status !== "exists") throw new Error(`the second imagespec build of the push scenario said ${String(status)}, not exists`);
            noops.push(again.wallSeconds);
            return m;
          } finally {
            await removeDir(home);
          }
        }),
      (i) =>
        withFreshRegistry(async (reg) => {
          log(`push ${kind} #${i + 1}: skopeo copy (gzip -6 + push)`);
          await writeBack();
          await inPageCache(source.tarLayout);
          const m = await skopeoCopy(f, reg, `oci:${source.tarLayout}:bench`, ["--dest-compress-format", "gzip", "--dest-compress-level", "6"], `${kind}-${i}`);
          const u = await uploadsOf(reg.host, await reg.requests());
          uploaded.push(`skopeo #${i + 1} uploaded ${u.blobs.length} blobs ${fmtBytes(u.blobBytes)}`);
          return m;
        }),
    );
    loads.push(`after: ${load()}`);
    const o = stats(ours.map((r) => r.wallSeconds));
    const t = stats(theirs.map((r) => r.wallSeconds));
    const mbps = (s: number): string => `${(size / 1e6 / s).toFixed(0)} MB/s`;
    const oBusy = busy(ours);
    rows.push([`imagespec build, ${kind}`, fmtSeconds(o.median), fmtSeconds(o.min), fmtSeconds(o.max), String(o.n), mbps(o.median), fmtStats(cores(ours), twoDigits), fmtStats(oBusy, twoDigits), rss(ours)]);
    rows.push([`skopeo copy, ${kind}`, fmtSeconds(t.median), fmtSeconds(t.min), fmtSeconds(t.max), String(t.n), mbps(t.median), fmtStats(cores(theirs), twoDigits), fmtStats(busy(theirs), twoDigits), rss(theirs)]);
    lines.push(`- ${kind}: ${sizeText} file (${source.note}); ratio ${ratioLine(o, t)}; ${uploaded.join(", ")}; load average ${loads.join(", ")}`);
    lines.push(`- ${kind}: \`imagespec build\` again after each push (the image exists; the ${sizeText} file's digest remembered in the cache dir, so it is not read): ${noops.map((x) => fmtSeconds(x)).join(", ")}`);
    const r = o.median / t.median;
    verdicts.push(verdict(`push of a 1 GiB ${kind} layer (pack + gzip + upload): no slower than skopeo copy`, r <= 1, `ratio ${r.toFixed(3)}${r <= 1 ? "" : ` (${((r - 1) * 100).toFixed(0)}% slower, ${fmtSeconds(o.median - t.median)})`}; imagespec ${fmtSeconds(o.median)}, skopeo ${fmtSeconds(t.median)}`));
    verdicts.push(verdict(`push of a 1 GiB ${kind} layer: both cores busy while compressing`, Number.isFinite(oBusy.median) ? oBusy.median >= 1.7 : undefined, `imagespec used ${twoDigits(oBusy.median)} cores (CPU ÷ wall, middle 80% of the run; ≥ 1.70 counts as both of the 2 cores), ${twoDigits(cores(ours).median)} over the whole process`));
  }
  // The transfer alone: an already-gzip blob, no compression on either side.
  const transferReps = reps(2);
  for (const compressible of [true, false]) {
    const kind = compressible ? "compressible" : "incompressible";
    const source = await bigSource(size, compressible);
    const { layout, layerBytes, note } = await bigLayerLayout(size, compressible, join(source.dir, "data", "big.bin"));
    const { a: ours, b: theirs } = await alternate(
      transferReps,
      (i) =>
        withFreshRegistry(async (reg) => {
          log(`push (transfer only) ${kind} #${i + 1}: imagespec copy`);
          await writeBack();
          await inPageCache(layout);
          return measureOk(f.cli[0]!, [...f.cli.slice(1), "copy", `oci:${layout}:bench`, `${reg.host}/bench/imagespec:v1`], { env: { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" }, resources: true, timeoutMs: 900_000 });
        }),
      (i) =>
        withFreshRegistry(async (reg) => {
          log(`push (transfer only) ${kind} #${i + 1}: skopeo copy`);
          await writeBack();
          await inPageCache(layout);
          return skopeoCopy(f, reg, `oci:${layout}:bench`, [], `copy-${kind}-${i}`);
        }),
    );
    const o = stats(ours.map((r) => r.wallSeconds));
    const t = stats(theirs.map((r) => r.wallSeconds));
    const mbps = (s: number): string => `${(layerBytes / 1e6 / s).toFixed(0)} MB/s`;
    transferRows.push([`imagespec copy, ${kind}`, fmtSeconds(o.median), String(o.n), mbps(o.median), fmtStats(cores(ours), twoDigits), rss(ours)]);
    transferRows.push([`skopeo copy, ${kind}`, fmtSeconds(t.median), String(t.n), mbps(t.median), fmtStats(cores(theirs), twoDigits), rss(theirs)]);
    lines.push(`- transfer only, ${kind}: layer ${fmtBytes(layerBytes)} gzip, ${note}; ratio ${ratioLine(o, t)}`);
  }
  return {
    title: "push throughput",
    measures: `One ${sizeText} file (compressible: text-like lines; incompressible: random bytes) to a fresh local docker-registry per run, so nothing can be mounted or skipped. **imagespec**: \`imagespec build\` (the CLI as installed, whole process, empty cache dir and HOME) of a spec with base \`scratch\` and sourceRoot data/ holding the file: it reads the file, tars it, gzips it (its default compressor: zlib level 1 in 1 MiB members on worker threads) while uploading it (the upload follows the layer as it is written), and pushes the config and manifest. **skopeo**: \`skopeo copy --dest-compress-format gzip --dest-compress-level 6 oci:LAYOUT docker://...\` of an OCI layout whose one layer is the uncompressed tar of the same file: it reads the tar, gzips it (klauspost/pgzip, level 6, its own deflate: faster than zlib's and a few % larger) and uploads. Same input bytes, same registry, each side at its default gzip level (imagespec 1, skopeo 6): the bytes uploaded, below, show what each level costs in size; imagespec also hashes the source tree for its tag; a layer this big goes only to the registry (its default --upload-only-above is 128 MiB), so neither side writes the compressed layer to its own disk. Every run starts after \`sync\` (untimed), so no run pays for writing back what the one before it wrote; each pays for its own writes; and with its input read once (untimed), so each starts with it in the page cache whatever ran before (this VM pages out files left idle for a minute; a file not in the page cache costs imagespec more than skopeo, since imagespec reads it once for its tag before it reads it again to push: see bench/RESULTS.md's 2026-12-07 follow-ups). Cores = user+sys CPU of the process tree ÷ wall time: over the whole process (/usr/bin/time -v) and in the middle 80% of the run (/proc sampled every 200 ms), where the work is reading, compressing and sending. Below it, the transfer alone: an OCI layout whose layer is already gzip (pigz -6 beforehand), \`imagespec copy\` against \`skopeo copy\`, nothing compressed.`,
    lines: [
      table(["pusher (pack + gzip + upload)", "wall median", "min", "max", "n", "throughput (content bytes)", "cores, whole process", "cores, middle 80%", "peak RSS (max)"], rows, [1, 2, 3, 4, 5, 6, 7, 8]),
      "",
      table(["pusher (transfer only, already gzip)", "wall median", "n", "throughput (compressed bytes)", "cores, whole process", "peak RSS (max)"], transferRows, [1, 2, 3, 4, 5]),
      "",
      ...lines,
    ],
    verdicts,
  };
}

async function compress(): Promise<Section> {
  const n = reps(2);
  const before = load();
  const mib = scaled(256 * MIB) / MIB;
  const m = await measureOk(process.execPath, ["--import", "tsx", "bench/compress.ts", String(mib), String(n)], { timeoutMs: 900_000 });
  const after = load();
  const out = m.stdout.trim();
  // Rows: `name  MB/s  seconds  cores  ratio`, aligned with spaces.
  const row = (prefix: RegExp): RegExpExecArray | null => new RegExp(`${prefix.source}[^\\n]*?\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s+([\\d.]+)\\s*$`, "m").exec(out);
  const workers = /gzip -\d, node workers \((\d+)\) \[default\]/.exec(out)?.[1];
  const oursRow = row(/gzip -\d, node workers \(\d+\) \[default\]/);
  const pigzRow = row(/pigz -6/);
  const ours = oursRow && workers ? [oursRow[0], workers, oursRow[1], oursRow[3]] : null;
  const pigz = pigzRow ? [pigzRow[0], pigzRow[1], pigzRow[3]] : null;
  const cores = ours ? Number(ours[3]) : NaN;
  const verdicts = [
    verdict(
      "compression using both cores",
      ours ? cores >= 1.7 : undefined,
      ours ? `imagespec's default gzip (${ours[1]} workers) ran at ${ours[2]} MB/s using ${cores.toFixed(2)} cores; pigz -6 ${pigz ? `${pigz[1]} MB/s on ${pigz[2]} cores` : "n/a"}` : "could not read compress.ts output",
    ),
  ];
  return {
    title: "compression throughput",
    measures: `bench/compress.ts: ${mib} MiB of generated data (1 MiB chunks, half text-like, half noise) through each compressor, best of ${n}; MB/s of input, the cores a run actually got (CPU time / wall time), and the size ratio.`,
    lines: ["```", out, "```", "", `- load average ${before} before, ${after} after`],
    verdicts,
  };
}

async function memory(): Promise<Section> {
  const before = load();
  const gib = scaled(2048 * MIB) / (1024 * MIB);
  const m = await measure(process.execPath, ["--import", "tsx", "bench/push-memory.ts", "--size-gib", String(gib), "--no-results"], { timeoutMs: 1_800_000 });
  const after = load();
  if (m.code !== 0) {
    return { title: "memory", measures: "bench/push-memory.ts", lines: [`- push-memory.ts failed: ${m.stderr.slice(-1500)}`], verdicts: [verdict("peak resident memory while pushing 2 GiB: under 200 MB", undefined, "the run failed")] };
  }
  const body = m.stdout.trim().split("\n");
  const start = body.findIndex((l) => l.startsWith("## push-memory"));
  const section = body.slice(start + 1).filter((l) => !l.startsWith("- target") && !l.startsWith("- node ") && !/^- \d+ CPUs/.test(l));
  const target = body.find((l) => l.startsWith("- target"));
  const met = target ? /: met:/.test(target) : undefined;
  return {
    title: "memory",
    measures: "bench/push-memory.ts: peak RSS (kernel max RSS via /usr/bin/time -v) of pushing one 2 GiB layer from an OCI layout: imagespec's registry client in a node process against skopeo copy.",
    lines: [...section.join("\n").trim().split("\n"), `- load average ${before} before, ${after} after`],
    verdicts: [verdict("peak resident memory while pushing 2 GiB: under 200 MB", met, target?.replace(/^- target "[^"]*": (met: |NOT met: )?/, "") ?? "no verdict line")],
  };
}

async function cross(): Promise<Section> {
  const f = await getFixture();
  const n = reps(2);
  const loads: string[] = [`before: ${load()}`];
  const lines: string[] = [];
  // The peer first: can buildah run arm64 RUN steps here at all?
  const qemu = ["/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-aarch64"].find((p) => existsSync(p));
  const binfmt = existsSync("/proc/sys/fs/binfmt_misc/qemu-aarch64");
  const binfmtMounted = existsSync("/proc/sys/fs/binfmt_misc/register");
  let peerNote: string;
  if (!qemu || !binfmt) {
    peerNote = `buildah could NOT be run for linux/arm64 here: ${qemu ? `${qemu} is installed` : "qemu-user-static is not installed"}, and ${binfmt ? "binfmt_misc has qemu-aarch64" : binfmtMounted ? "binfmt_misc has no qemu-aarch64 handler" : "binfmt_misc is not even mounted in this VM"}, so a RUN step of an arm64 image cannot execute (installing qemu-user-static and registering binfmt handlers changes the shared machine's kernel state, which this benchmark does not do). The Debian arm64 test base also has no pip and is not runnable by design (test/support/debian-base.ts). No peer figure, no ratio.`;
  } else {
    peerNote = "qemu-aarch64 and its binfmt handler are present, but the Debian arm64 test base has no pip and is not runnable by design (maintainer scripts never ran), so the Dockerfile build is not attempted. No peer figure, no ratio.";
  }
  log(`cross: ${peerNote}`);
  let wheels: DebianWheels;
  try {
    wheels = await debianWheels("arm64" as WheelArch, log);
  } catch (error) {
    return { title: "cross-platform (linux/arm64)", measures: "", lines: [`- SKIPPED: arm64 wheels could not be made: ${(error as Error).message.split("\n")[0]}`, `- ${peerNote}`], verdicts: [] };
  }
  const index = await startPypiIndex({ dir: wheels.dir });
  cleanups.push(() => index.stop());
  const arm64 = await debianPythonBase({ arch: "arm64" });
  const times: Run[] = [];
  for (let i = 0; i < n; i++) {
    const reg = await startRegistry({ mode: "plain" });
    const { registry } = registryFor(reg);
    try {
      const base = `${reg.host}/debian/python:3.11-arm64`;
      await registry.copy(arm64.ref, base);
      const project = await writeProject(join(f.work, "cross-project"), "bench-app", SCIENCE, REQUESTS, base, index.url);
      project.fields.platform = "linux/arm64";
      const cache = join(f.work, `cross-cache-${i}`);
      log(`cross #${i + 1}: imagespec linux/arm64`);
      times.push(await imagespecBuild(f, reg, project, "native", cache));
      await rm(cache, { recursive: true, force: true });
    } finally {
      await registry.close();
      await reg.stop();
    }
  }
  loads.push(`after: ${load()}`);
  const o = stats(times.map((r) => r.seconds));
  lines.push(
    table(["side", "time median", "min", "max", "n"], [["imagespec native, linux/arm64, cold", fmtSeconds(o.median), fmtSeconds(o.min), fmtSeconds(o.max), String(o.n)], ["buildah + qemu-user-static", "could not run", "", "", "0"]], [1, 2, 3, 4]),
    "",
    `- arm64 wheels: ${wheelsSummary(wheels)}, from Debian bookworm arm64 .debs (apt-get download with a private apt state)`,
    `- base: Debian bookworm python3 arm64 test base (${arm64.digest.slice(0, 19)}), no pip`,
    ...runRows("imagespec", times).map((l) => `- ${l}`),
    `- peer: ${peerNote}`,
    `- load average (1/5/15 min) ${loads.join(", ")}`,
  );
  return {
    title: "cross-platform (linux/arm64)",
    measures: "The cold scenario's app for linux/arm64 on this amd64 machine, from empty caches: imagespec lays the arm64 wheels into layers without running anything of the target platform. The peer would need qemu-user-static to run the pip step.",
    lines,
    verdicts: [verdict("cross-platform: imagespec native vs buildah with qemu emulation", undefined, "the peer could not run here (see above); imagespec's own figure is reported")],
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  log(`scenarios: ${selected.join(", ")}${REPS_OVERRIDE !== undefined ? ` (--reps ${REPS_OVERRIDE})` : ""}`);
  const failures: string[] = [];
  const runners: Record<Scenario, () => Promise<Section>> = {
    cold,
    noop,
    warm: () => incremental("warm"),
    fresh: () => incremental("fresh"),
    shared,
    push,
    compress,
    memory,
    cross,
  };
  for (const name of selected) {
    const loadBefore = load();
    const scenarioStarted = Date.now();
    log(`=== ${name} (load ${loadBefore})`);
    try {
      const section = await runners[name]();
      section.lines.push(`- scenario \`${name}\` took ${fmtSeconds((Date.now() - scenarioStarted) / 1000)} with its fixtures; machine load average (1/5/15 min) ${loadBefore} before it, ${load()} after it`);
      sections.push(section);
      process.stdout.write(`\n### ${section.title}\n\n${section.lines.join("\n")}\n${section.verdicts.map((v) => `- ${v}`).join("\n")}\n`);
    } catch (error) {
      const message = (error as Error).stack ?? String(error);
      log(`${name} FAILED: ${message}`);
      failures.push(name);
      sections.push({ title: name, measures: "", lines: [`- FAILED in this run: ${message.split("\n").slice(0, 6).join(" / ")}`], verdicts: [verdict(name, undefined, "the scenario failed (see above)")] });
    }
  }
  const minutes = ((Date.now() - started.getTime()) / 60000).toFixed(1);
  const f = fixture;
  const header = [
    `## peers (${selected.join(", ")}) — ${started.toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
    "Written by `bench/peers.ts`" + ` in ${minutes} min${REPS_OVERRIDE !== undefined ? `, --reps ${REPS_OVERRIDE}` : ""}.`,
    "",
    ...(await machineLines()).map((l) => `- ${l}`),
    ...(f
      ? [
          `- imagespec ran as ${f.cliNote}; buildah as \`buildah --storage-driver overlay build --isolation chroot --layers\` + \`buildah push\`, storage and TMPDIR in temp dirs`,
          `- wheels: ${wheelsSummary(f.wheels)}; repackaged from Debian bookworm's amd64 python3-* .debs (deb.debian.org, \`apt-get download\`; bench/debian-wheels.ts); compiled ones tagged cp311-cp311-manylinux_2_36_x86_64; served by test/support/pypi-index.ts on 127.0.0.1`,
          `- base: ${f.pipBaseNote}`,
        ]
      : []),
    ...(SCALE !== 1 ? [`- **BENCH_SCALE=${SCALE}**: the big fixtures are scaled down, so the push and memory verdicts do not speak for the issue's 1 GiB / 2 GiB targets`] : []),
    "- times are medians of alternating repetitions (imagespec first on odd ones, the peer first on even ones); ratio = imagespec / peer",
    "",
    "### Targets",
    "",
    ...verdictSummary.map((v) => `- ${v}`),
    ...(failures.length ? [`- scenarios that FAILED in this run: ${failures.join(", ")}`] : []),
    "",
  ];
  const body = sections.flatMap((s) => [`### ${s.title}`, "", ...(s.measures ? [`What it measures: ${s.measures}`, ""] : []), ...s.lines, ...(s.verdicts.length ? ["", ...s.verdicts.map((v) => `- ${v}`)] : []), ""]);
  const text = [...header, ...body].join("\n");
  process.stdout.write(`\n${text}\n`);
  if (!NO_RESULTS) {
    await appendResults(text);
    log("appended to bench/RESULTS.md");
  }
  if (failures.length) process.exitCode = 1;
}

async function cleanup(): Promise<void> {
  for (const fn of cleanups.reverse()) await fn().catch((e: unknown) => log(`cleanup: ${(e as Error).message}`));
  cleanups.length = 0;
}

process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));
try {
  await main();
} finally {
  await cleanup();
}
