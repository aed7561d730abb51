// Compression throughput: our gzip on node worker threads against pigz, single-threaded gzip
// and zstd, on the same 256 MiB of generated data (1 MiB chunks, each half text-like and half
// random, so neither an all-text nor an all-random best case). Not part of the test suite.
//
//   node --import tsx bench/compress.ts [MiB] [rounds]
//
// Each compressor runs `rounds` times (default 1) and the fastest run is shown. "cores" is CPU
// time over wall time (this process, its workers and the programs it ran): on a shared machine
// it shows how much of the hardware a run actually got.
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { Writable, type Duplex } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { closeGzipWorkers, resolveCompressor } from "../src/layer/index.js";
import { findExecutable } from "../src/layer/process-stream.js";

const MIB = 1024 * 1024;
const sizeMiB = Number(process.argv[2] ?? 256);
const rounds = Math.max(1, Number(process.argv[3] ?? 1));

/** One MiB: the first half words and newlines, the second half xorshift noise. */
function chunk(seed: number): Buffer {
  const out = Buffer.alloc(MIB);
  let state = seed * 2654435761 >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const words = ["layer", "image", "digest", "tar", "gzip", "zstd", "manifest", "blob", "the", "a", "of", "registry\n", "import", "def", "return"];
  let i = 0;
  while (i < MIB / 2) {
    const word = words[next() % words.length]!;
    i += out.write(`${word} `, i, Math.min(word.length + 1, MIB / 2 - i));
  }
  for (; i < MIB; i += 4) out.writeUInt32LE(next(), i);
  return out;
}

function counter(): { sink: Writable; bytes: () => number } {
  let total = 0;
  const sink = new Writable({
    write(data: Buffer, _encoding, callback) {
      total += data.length;
      callback();
    },
  });
  return { sink, bytes: () => total };
}

interface Row {
  name: string;
  seconds: number;
  cpuSeconds: number;
  outBytes: number;
}

/** CPU seconds used so far by this process (all threads) and by the children it has reaped. */
function cpuSeconds(): number {
  const own = process.cpuUsage();
  let children = 0;
  try {
    // /proc/self/stat fields 16 and 17: cutime and cstime, in clock ticks (100 per second on Linux).
    const fields = readFileSync("/proc/self/stat", "utf8").replace(/^.*\) /, "").split(" ");
    children = (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    // not Linux: children's time is not counted
  }
  return (own.user + own.system) / 1e6 + children;
}

async function measure(name: string, run: () => Promise<number>): Promise<Row> {
  let best: Row | undefined;
  for (let i = 0; i < rounds; i++) {
    const cpuStart = cpuSeconds();
    const start = process.hrtime.bigint();
    const outBytes = await run();
    const row = { name, seconds: Number(process.hrtime.bigint() - start) / 1e9, cpuSeconds: cpuSeconds() - cpuStart, outBytes };
    if (best === undefined || row.seconds < best.seconds) best = row;
  }
  return best!;
}

function viaStream(name: string, file: string, create: () => Duplex): Promise<Row> {
  return measure(name, async () => {
    const { sink, bytes } = counter();
    await pipeline(createReadStream(file, { highWaterMark: MIB }), create(), sink);
    return bytes();
  });
}

/** An external program reading the file itself: its best case, with no node in the way. */
function viaProgram(name: string, command: string, args: string[]): Promise<Row> {
  return measure(name, async () => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
    const { sink, bytes } = counter();
    const [code] = await Promise.all([
      new Promise<number | null>((resolve) => child.on("close", resolve)),
      pipeline(child.stdout, sink),
    ]);
    if (code !== 0) throw new Error(`${command} exited ${code}`);
    return bytes();
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "imagespec-bench-"));
  try {
    const file = join(dir, "input.bin");
    const out = createWriteStream(file);
    for (let i = 0; i < sizeMiB; i++) if (!out.write(chunk(i + 1))) await new Promise<void>((r) => out.once("drain", () => r()));
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    const cores = availableParallelism();
    console.log(`input: ${sizeMiB} MiB (half text-like, half random), ${cores} cores, node ${process.version}\n`);

    const rows: Row[] = [];
    const nodeGzip = await resolveCompressor({ compression: "gzip" });
    const defaultLevel = /\/level-(\d)\//.exec(nodeGzip.id)?.[1] ?? "?";
    rows.push(await viaStream(`gzip -${defaultLevel}, node workers (${cores}) [default]`, file, nodeGzip.create));
    const nodeGzip6 = await resolveCompressor({ compression: "gzip", level: 6 });
    rows.push(await viaStream(`gzip -6, node workers (${cores})`, file, nodeGzip6.create));
    rows.push(await viaStream("gzip -6, node zlib, 1 thread", file, () => createGzip({ level: 6 })));
    if (findExecutable("pigz")) {
      const pigz = await resolveCompressor({ compression: "gzip", gzip: "pigz", level: 6 });
      rows.push(await viaStream(`pigz -6 -p ${cores} (streamed through node)`, file, pigz.create));
    }
    if (findExecutable("gzip")) rows.push(await viaProgram("gzip -6 (single-threaded program)", "gzip", ["-6", "-n", "-c", file]));
    if (findExecutable("zstd")) {
      const zstd = await resolveCompressor({ compression: "zstd", level: 3 });
      rows.push(await viaStream(`zstd -3 -T${cores} (streamed through node)`, file, zstd.create));
    }

    const width = Math.max(...rows.map((r) => r.name.length));
    console.log(`${"compressor".padEnd(width)}  ${"MB/s".padStart(7)}  ${"seconds".padStart(7)}  ${"cores".padStart(5)}  ${"ratio".padStart(6)}`);
    for (const r of rows) {
      const mbps = (sizeMiB * MIB) / 1e6 / r.seconds;
      const ratio = r.outBytes / (sizeMiB * MIB);
      const cores = r.cpuSeconds / r.seconds;
      console.log(
        `${r.name.padEnd(width)}  ${mbps.toFixed(1).padStart(7)}  ${r.seconds.toFixed(2).padStart(7)}  ${cores.toFixed(2).padStart(5)}  ${ratio.toFixed(3).padStart(6)}`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await closeGzipWorkers();
  }
}

await main();
