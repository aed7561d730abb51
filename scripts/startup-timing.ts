// How long the CLI takes to start, measured as a user meets it: whole processes, interleaved so that
// the machine's load falls on every variant alike.
//
//   node --import tsx scripts/startup-timing.ts [--runs N] [--scenario version|help|noop]... [--profile] ENTRY...
//
// ENTRY is a CLI entry file (dist/cli/bin.js, or a copy of an older build's, to compare against).
// Scenarios: `--version`; `--help`; `build` of a spec whose image already exists in a local registry
// (docker-registry on 127.0.0.1), where the registry's access log is checked for exactly one
// manifest request per run. One more run of each prints how many modules it loaded, by package;
// with --profile, one more under --cpu-prof prints where its CPU time went (self time by source file).
import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startRegistry, type TestRegistry } from "../test/support/registry.js";
import { makeTestImage, removeDir, runOk, skopeo, tempDir } from "../test/support/tools.js";

const SCENARIOS = ["version", "help", "noop"] as const;
type Scenario = (typeof SCENARIOS)[number];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { runs: { type: "string", default: "9" }, scenario: { type: "string", multiple: true }, profile: { type: "boolean", default: false } },
});
const runs = Number(values.runs);
const scenarios = (values.scenario ?? ["version", "noop"]) as Scenario[];
for (const s of scenarios) if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s}: use ${SCENARIOS.join(", ")}`);
const entries = positionals.map((p) => resolve(p));
if (entries.length === 0) throw new Error("name at least one CLI entry, e.g. dist/cli/bin.js");

/** A module-load counter, loaded with --import: counts each module once, by package. */
const COUNTER = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from "node:module";
const seen = [];
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
process.on("exit", () => {
  const by = new Map();
  for (const url of seen) {
    const key = url.startsWith("node:") ? "node:" : /\\/node_modules\\/((@[^/]+\\/)?[^/]+)/.exec(url)?.[1] ?? "imagespec";
    by.set(key, (by.get(key) ?? 0) + 1);
  }
  const top = [...by].sort((a, b) => b[1] - a[1]).map(([k, v]) => k + " " + v).join(", ");
  process.stderr.write("\\nMODULES " + seen.length + " (" + top + ")\\n");
});
`)}`;

interface Outcome {
  seconds: number;
  /** User + system CPU seconds of the process (from /usr/bin/time): less swayed by the machine's load than wall time. */
  cpu: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

const TIME = "/usr/bin/time";
const CPU_LINE = /\nCPU ([\d.]+) ([\d.]+)\n?$/;

function timeRun(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((done, fail) => {
    const started = process.hrtime.bigint();
    const child = spawn(TIME, ["-f", "\nCPU %U %S", process.execPath, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", fail);
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const stderr = Buffer.concat(err).toString();
      const cpu = CPU_LINE.exec(stderr);
      done({ seconds, cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN, code, stdout: Buffer.concat(out).toString(), stderr: stderr.replace(CPU_LINE, "") });
    });
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface CpuProfile {
  nodes: { id: number; callFrame: { url: string; functionName: string } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one --cpu-prof profile by where the code came from: a bundle file, a package, node itself, idle, GC. */
async function profileSummary(dir: string): Promise<string> {
  const file = (await readdir(dir)).find((f) => f.endsWith(".cpuprofile"));
  if (file === undefined) return "no profile written";
  const profile = JSON.parse(await readFile(join(dir, file), "utf8")) as CpuProfile;
  const where = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const by = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = where.get(id)!;
    const url = frame.url;
    const key =
      url === ""
        ? `(${frame.functionName || "native"})`
        : url.startsWith("node:")
          ? "node internals"
          : (/\/node_modules\/((@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? url.replace(/^.*\/dist\//, "dist/").replace(/^.*\/(cli\/)/, "$1"));
    by.set(key, (by.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...by.values()].reduce((a, b) => a + b, 0);
  const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, 12);
  return `${ms(total / 1e6)} sampled: ${top.map(([k, v]) => `${k} ${ms(v / 1e6)}`).join(", ")}`;
}

const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");

/** A project whose spec's image is in the registry: a base, packages, a requirements file, 42 source files. */
async function existingImage(work: string, registry: TestRegistry, entry: string, env: NodeJS.ProcessEnv): Promise<{ dir: string; args: string[] }> {
  const base = await makeTestImage({ busybox: false, layers: [{ "etc/base": "base\n" }] });
  await skopeo(["copy", ...registry.skopeoArgs("dest"), base.ref, registry.ref("base:1")]);
  await base.cleanup();
  const dir = join(work, "project");
  await mkdir(join(dir, "src", "app"), { recursive: true });
  for (let i = 0; i < 42; i++) await writeFile(join(dir, "src", "app", `module_${i}.py`), `VALUE = ${i}\n`.repeat(50));
  await writeFile(join(dir, "requirements.txt"), "requests==2.32.3\nurllib3==2.2.3\n");
  const spec = {
    name: "startup-app",
    registry: registry.host,
    base_image: `${registry.host}/base:1`,
    python_version: "3.11",
    packages: ["pandas==2.2.3", "scikit-learn==1.5.2"],
    requirements: "requirements.txt",
    source_root: "src",
    env: { MODE: "bench" },
  };
  await writeFile(join(dir, "imagespec.json"), JSON.stringify(spec, null, 2));
  const args = ["build", "--json", "--insecure-registry", registry.host, "--cache-dir", join(work, "cache"), "imagespec.json"];
  // The image is put there under the spec's tag by copying the base: the no-op only asks whether it exists.
  const tag = (await runOk(process.execPath, [entry, "tag", "imagespec.json"], { cwd: dir, env })).stdout.trim();
  await skopeo(["copy", ...registry.skopeoArgs("src"), ...registry.skopeoArgs("dest"), registry.ref("base:1"), `docker://${tag}`]);
  return { dir, args };
}

const work = await tempDir("imagespec-startup-");
const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: join(work, "home"), TMPDIR: process.env.TMPDIR ?? "/tmp" };
let registry: TestRegistry | undefined;
try {
  let project: { dir: string; args: string[] } | undefined;
  if (scenarios.includes("noop")) {
    registry = await startRegistry({ mode: "plain" });
    project = await existingImage(work, registry, entries[0]!, env);
  }
  for (const scenario of scenarios) {
    const args = scenario === "version" ? ["--version"] : scenario === "help" ? ["--help"] : project!.args;
    const cwd = scenario === "noop" ? project!.dir : work;
    const times = entries.map(() => [] as number[]);
    const cpus = entries.map(() => [] as number[]);
    const loadBefore = load();
    // One untimed run each first (the page cache and the compile cache, where enabled, are warm after it).
    for (const entry of entries) await timeRun([entry, ...args], cwd, env);
    registry?.resetRequests();
    for (let i = 0; i < runs; i++) {
      for (const [k, entry] of entries.entries()) {
        const r = await timeRun([entry, ...args], cwd, env);
        if (r.code !== 0) throw new Error(`${entry} ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
        times[k]!.push(r.seconds);
        cpus[k]!.push(r.cpu);
      }
    }
    process.stdout.write(`\n## ${scenario}: \`imagespec ${args.join(" ")}\`, ${runs} runs each, interleaved; load before ${loadBefore}, after ${load()}\n`);
    for (const [k, entry] of entries.entries()) {
      const t = times[k]!;
      process.stdout.write(`- ${entry}: median ${ms(median(t))} (min ${ms(Math.min(...t))}, max ${ms(Math.max(...t))}); CPU median ${ms(median(cpus[k]!))}\n`);
    }
    if (registry) {
      const manifests = (await registry.requests()).filter((r) => r.path !== "/v2/" && r.path !== "/v2");
      const per = manifests.length / (runs * entries.length);
      const methods = [...new Set(manifests.map((r) => `${r.method} ${r.path.replace(/[0-9a-f]{64}/, "…")}`))];
      if (scenario === "noop") process.stdout.write(`- registry requests per run besides /v2/: ${per} (${methods.join(", ")})\n`);
    }
    for (const entry of entries) {
      const r = await timeRun(["--import", COUNTER, entry, ...args], cwd, env);
      process.stdout.write(`- ${entry}: ${/MODULES (.*)/.exec(r.stderr)?.[1] ?? "no module count"}\n`);
      if (values.profile) {
        const dir = join(work, "profile");
        await rm(dir, { recursive: true, force: true });
        if (process.env.KEEP_PROFILE) await mkdir(process.env.KEEP_PROFILE, { recursive: true });
        await timeRun(["--cpu-prof", `--cpu-prof-dir=${dir}`, entry, ...args], cwd, env);
        process.stdout.write(`  CPU profile: ${await profileSummary(dir)}\n`);
        if (process.env.KEEP_PROFILE) for (const f of await readdir(dir)) await writeFile(join(process.env.KEEP_PROFILE, `${scenario}-${f}`), await readFile(join(dir, f)));
      }
    }
  }
} finally {
  await registry?.stop();
  await removeDir(work);
}
