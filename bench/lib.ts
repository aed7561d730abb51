// Shared bits of the peer benchmarks (bench/peers.ts): timing processes, statistics, the machine's
// load, tool versions, the registry's request log turned into "what was uploaded", and buildah
// storage clean-up. Not a benchmark itself.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { appendFile, readFile } from "node:fs/promises";
import { cpus, loadavg, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RequestRecord } from "../test/support/registry.js";
import { run } from "../test/support/tools.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const MIB = 1024 * 1024;

/**
 * BENCH_SCALE (default 1) multiplies the sizes of the big fixtures (the push layers, the memory
 * scenario's layer, the compress scenario's input), so a scenario can be checked quickly at, say,
 * 0.05; targets are only meaningful at 1, and a scaled run says so in its header.
 */
export const SCALE = ((): number => {
  const raw = process.env.BENCH_SCALE;
  if (raw === undefined || raw === "") return 1;
  const n = Number(raw);
  if (!(n > 0 && n <= 1)) throw new Error(`BENCH_SCALE=${raw}: expected a number in (0, 1], e.g. 0.05 for a quick check`);
  return n;
})();

/** `bytes` times BENCH_SCALE, whole MiB, at least 1 MiB. */
export function scaled(bytes: number): number {
  return Math.max(MIB, Math.round((bytes * SCALE) / MIB) * MIB);
}

export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  wallSeconds: number;
  /** From /usr/bin/time -v when installed. */
  peakKiB?: number;
  cpuSeconds?: number;
  /** With `sampleCpu`: CPU seconds of the whole process tree, sampled every 200 ms. */
  cpuTimeline?: CpuSample[];
}

export interface CpuSample {
  /** Seconds since the spawn. */
  at: number;
  /** user + system CPU seconds of the process and all its descendants (threads included). */
  cpu: number;
}

const CLOCK_TICKS = 100;

/** user+sys CPU seconds of `root` and every live descendant, from /proc/PID/stat (threads are counted in their process). */
export function treeCpuSeconds(root: number): number {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the ")" that ends the command name: state ppid ... utime(14) stime(15) cutime(16) cstime(17).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    parent.set(Number(name), Number(fields[1]));
    // cutime/cstime: children that already exited and were waited for (pigz, say).
    ticks.set(Number(name), Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]));
  }
  let total = 0;
  for (const [pid, t] of ticks) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        total += t;
        break;
      }
    }
  }
  return total / CLOCK_TICKS;
}

/**
 * The cores a run used while it was busy: CPU over wall time in the middle 80% of its life (start-up
 * and the final manifest requests left out), where a push spends its time reading, compressing and
 * sending the layer.
 */
export function busyCores(timeline: readonly CpuSample[]): number {
  if (timeline.length < 3) return NaN;
  const end = timeline.at(-1)!.at;
  const inside = timeline.filter((s) => s.at >= end * 0.1 && s.at <= end * 0.9);
  if (inside.length < 2) return NaN;
  return (inside.at(-1)!.cpu - inside[0]!.cpu) / (inside.at(-1)!.at - inside[0]!.at);
}

const TIME = "/usr/bin/time";

/** Runs a process (under /usr/bin/time -v when `resources`), wall time measured here around spawn..close. */
export function measure(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; resources?: boolean; sampleCpu?: boolean; timeoutMs?: number } = {}): Promise<Measured> {
  const useTime = opts.resources === true && existsSync(TIME);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const proc = spawn(useTime ? TIME : cmd, useTime ? ["-v", cmd, ...args] : [...args], {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on("data", (b: Buffer) => out.push(b));
    proc.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = opts.timeoutMs ? setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs) : undefined;
    const timeline: CpuSample[] = [];
    const sample = (): void => {
      if (proc.pid !== undefined) timeline.push({ at: Number(process.hrtime.bigint() - started) / 1e9, cpu: treeCpuSeconds(proc.pid) });
    };
    const sampler = opts.sampleCpu ? setInterval(sample, 200) : undefined;
    proc.on("error", reject);
    proc.on("close", (code) => {
      if (timer) clearTimeout(timer);
      if (sampler) clearInterval(sampler);
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const stderr = Buffer.concat(err).toString("utf8");
      const result: Measured = { code, stdout: Buffer.concat(out).toString("utf8"), stderr, wallSeconds };
      if (opts.sampleCpu) result.cpuTimeline = timeline;
      if (useTime) {
        const peak = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
        const user = /User time \(seconds\): ([\d.]+)/.exec(stderr)?.[1];
        const sys = /System time \(seconds\): ([\d.]+)/.exec(stderr)?.[1];
        if (peak !== undefined) result.peakKiB = Number(peak);
        if (user !== undefined && sys !== undefined) result.cpuSeconds = Number(user) + Number(sys);
      }
      resolve(result);
    });
  });
}

export async function measureOk(cmd: string, args: readonly string[], opts: Parameters<typeof measure>[2] = {}): Promise<Measured> {
  const r = await measure(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = process.hrtime.bigint();
  const value = await fn();
  return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

export interface Stats {
  n: number;
  min: number;
  median: number;
  max: number;
}

export function stats(values: readonly number[]): Stats {
  if (values.length === 0) return { n: 0, min: NaN, median: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { n: values.length, min: sorted[0]!, median, max: sorted.at(-1)! };
}

export function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return "n/a";
  return s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return "n/a";
  if (b >= 1e9) return `${(b / 1e9).toFixed(2)} GB`;
  if (b >= 1e6) return `${(b / 1e6).toFixed(1)} MB`;
  if (b >= 1e3) return `${(b / 1e3).toFixed(1)} kB`;
  return `${b} B`;
}

/** `median (min–max, n=3)` */
export function fmtStats(s: Stats, fmt: (v: number) => string = fmtSeconds): string {
  if (s.n === 0) return "n/a";
  if (s.n === 1) return `${fmt(s.median)} (n=1)`;
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}, n=${s.n})`;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[], right: readonly number[] = []): string {
  const align = header.map((_, i) => (right.includes(i) ? "---:" : "---"));
  return [`| ${header.join(" | ")} |`, `| ${align.join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

// ---------------------------------------------------------------------------------------------
// The machine

export function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
}

export async function toolVersion(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args).catch(() => undefined);
  if (!r || r.code !== 0) return `${cmd}: not installed`;
  return (r.stdout.trim() || r.stderr.trim()).split("\n")[0]!;
}

export async function machineLines(): Promise<string[]> {
  const cpuModel = cpus()[0]?.model ?? "unknown CPU";
  const versions = await Promise.all([
    toolVersion("buildah", ["--version"]),
    toolVersion("skopeo", ["--version"]),
    toolVersion("docker-registry", ["--version"]),
    toolVersion("pigz", ["--version"]),
    toolVersion("gzip", ["--version"]),
    toolVersion("python3", ["--version"]),
  ]);
  let git = "unknown";
  const head = await run("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT }).catch(() => undefined);
  if (head?.code === 0) {
    const dirty = await run("git", ["status", "--porcelain", "src"], { cwd: ROOT }).catch(() => undefined);
    git = `${head.stdout.trim()}${dirty?.stdout.trim() ? " + uncommitted changes under src/" : ""}`;
  }
  return [
    `${cpus().length} CPUs (${cpuModel}), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB memory, Linux ${release()}; a shared machine (other engineers' tests run at the same time: see the load averages)`,
    `node ${process.version}; ${versions.join("; ")}`,
    `imagespec at git ${git}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Registry request log

export interface Uploads {
  /** Blobs sent (PUT .../blobs/uploads/...?digest=) with their sizes. */
  blobs: { repo: string; digest: string; size: number }[];
  blobBytes: number;
  /** Blobs mounted from another repository (POST ?mount= answered 201). */
  mounted: number;
  /** Blobs found already there (HEAD .../blobs/DIGEST answered 200): skipped. */
  existing: number;
  manifestPuts: number;
  requests: number;
  byMethod: Record<string, number>;
}

/** What a run sent to the registry, from its access log (sizes asked of the registry afterwards). */
export async function uploadsOf(host: string, requests: readonly RequestRecord[]): Promise<Uploads> {
  const counted = requests.filter((r) => r.path !== "/v2/");
  const byMethod: Record<string, number> = {};
  for (const r of counted) byMethod[r.method] = (byMethod[r.method] ?? 0) + 1;
  const blobs: Uploads["blobs"] = [];
  for (const r of counted) {
    if (r.method !== "PUT" || !r.path.includes("/blobs/uploads/") || r.status >= 300) continue;
    const digest = decodeURIComponent(/[?&]digest=([^&]+)/.exec(r.path)?.[1] ?? "");
    const repo = /^\/v2\/(.+)\/blobs\/uploads\//.exec(r.path)?.[1] ?? "";
    const head = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    blobs.push({ repo, digest, size: Number(head.headers.get("content-length") ?? NaN) });
  }
  return {
    blobs,
    blobBytes: blobs.reduce((n, b) => n + b.size, 0),
    mounted: counted.filter((r) => r.method === "POST" && r.path.includes("mount=") && r.status === 201).length,
    existing: counted.filter((r) => r.method === "HEAD" && /\/blobs\/sha256:/.test(r.path) && r.status === 200).length,
    manifestPuts: counted.filter((r) => r.method === "PUT" && r.path.includes("/manifests/") && r.status < 300).length,
    requests: counted.length,
    byMethod,
  };
}

export function fmtMethods(byMethod: Record<string, number>): string {
  return Object.entries(byMethod)
    .sort()
    .map(([m, n]) => `${m} ${n}`)
    .join(", ");
}

const MANIFEST_TYPES = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

interface AnyManifest {
  config?: { digest: string; size: number };
  layers?: { digest: string; size: number }[];
  blobs?: { digest: string; size: number }[];
  manifests?: { digest: string }[];
}

/** Every blob (digest -> size) that some manifest of some repository of the registry refers to. */
export async function registryBlobs(host: string): Promise<Map<string, number>> {
  const blobs = new Map<string, number>();
  const json = async <T>(path: string): Promise<T> => {
    const res = await fetch(`http://${host}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  // 1000 is distribution's largest page (a larger n is refused); the bench's registries hold fewer repositories.
  const catalog = await json<{ repositories?: string[] }>("/v2/_catalog?n=1000");
  for (const repo of catalog.repositories ?? []) {
    const tags = await json<{ tags?: string[] | null }>(`/v2/${repo}/tags/list`);
    const queue = [...(tags.tags ?? [])];
    const seen = new Set<string>();
    for (let ref = queue.shift(); ref !== undefined; ref = queue.shift()) {
      if (seen.has(ref)) continue;
      seen.add(ref);
      const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { headers: { accept: MANIFEST_TYPES } });
      if (!res.ok) continue;
      const m = (await res.json()) as AnyManifest;
      for (const b of [...(m.config ? [m.config] : []), ...(m.layers ?? []), ...(m.blobs ?? [])]) blobs.set(b.digest, b.size);
      for (const child of m.manifests ?? []) queue.push(child.digest);
    }
  }
  return blobs;
}

// ---------------------------------------------------------------------------------------------
// buildah storage

/** Mount points under `dir` (deepest first): containers/storage leaves its overlay mounts behind. */
export function mountsUnder(dir: string): string[] {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)));
  return mounts.sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string): Promise<void> {
  for (const mount of mountsUnder(dir)) await run("umount", ["-l", mount]);
}

// ---------------------------------------------------------------------------------------------
// Results

export const RESULTS = join(ROOT, "bench", "RESULTS.md");

export async function appendResults(section: string): Promise<void> {
  const existing = await readFile(RESULTS, "utf8").catch(() => undefined);
  await appendFile(RESULTS, `${existing === undefined ? "# Benchmark results\n\nAppended by the scripts in bench/; newest last.\n" : ""}\n${section}`);
}
