// How `imagespec build` shows its work on stderr. Without a TTY (CI logs): plain timestamped
// lines, one per event. On a TTY: a live view redrawn in place, one block per image with its
// steps, layers and blobs (bytes and rate while uploading; exists, mounted, uploaded), like
// `docker buildx`; when the run ends the last frame stays as the record.
import type { BuildEvent, PythonStepProgress } from "../build/index.js";
import { humanSize } from "../units.js";

export type ProgressMode = "auto" | "tty" | "plain";
export const PROGRESS_MODES: readonly ProgressMode[] = ["auto", "tty", "plain"];

export interface Progress {
  readonly onEvent: (event: BuildEvent) => void;
  /** A line that is not about one image (ECR repository work); kept above the live view. */
  readonly note: (text: string) => void;
  /** Stops redrawing and leaves the final frame. */
  readonly end: () => void;
}

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function createProgress(mode: ProgressMode, out: Output = process.stderr, env: NodeJS.ProcessEnv = process.env): Progress {
  const live = mode === "tty" || (mode === "auto" && out.isTTY === true && env.TERM !== "dumb");
  return live ? new LiveProgress(out) : plainProgress(out);
}

/** Plain timestamped lines, as CI logs want them. */
export function plainProgress(out: Output = process.stderr): Progress {
  const line = (image: string, text: string) => out.write(`${new Date().toISOString()} ${image}: ${text}\n`);
  /** Blobs whose upload was announced, per image: one line when it starts, one when it ends. */
  const uploading = new Set<string>();
  return {
    note: (text) => out.write(`${new Date().toISOString()} ${text}\n`),
    end: () => undefined,
    onEvent: (event) => {
      if (event.kind === "push" && event.event.type === "blob" && event.event.status === "uploading") {
        const key = `${event.image} ${event.event.digest}`;
        if (!uploading.has(key)) line(event.image, `blob ${event.event.digest.slice(0, 19)} ${humanSize(event.event.size)} uploading`);
        uploading.add(key);
        return;
      }
      const text = describeEvent(event);
      if (text !== undefined) line(event.image, text);
    },
  };
}

/** The one-line description of an event; undefined for the ones plain output leaves out (upload ticks). */
function describeEvent(event: BuildEvent): string | undefined {
  switch (event.kind) {
    case "plan":
      return `planned ${event.plan.steps.length} steps for ${event.plan.platforms.length} platform(s)`;
    case "exists":
      return `exists (${event.digest}), nothing to build`;
    case "base":
      return `base ${event.reference} for ${event.platform}`;
    case "layer":
      return `layer ${event.step} ${event.digest.slice(0, 19)} ${humanSize(event.size)}`;
    case "push": {
      const e = event.event;
      if (e.type === "blob" && e.status !== "uploading") return `blob ${e.digest.slice(0, 19)} ${humanSize(e.size)} ${e.status}${e.status === "mounted" ? ` from ${e.from}` : ""}`;
      if (e.type === "manifest") return `manifest ${e.digest.slice(0, 19)} ${e.status}`;
      return undefined;
    }
    case "python":
      return `python for ${event.platform}: ${event.wheels} wheels in ${event.layers} layer(s), ${event.source}${event.resolved ? ", resolved" : ""} (${event.interpreter})`;
    case "apt": {
      const already = event.alreadyInstalled.length > 0 ? ` (already in the base: ${event.alreadyInstalled.join(", ")})` : "";
      return `apt for ${event.platform}: ${event.packages.length} packages, ${event.source}${already}`;
    }
    case "step-cache":
      return `step cache ${event.step} ${event.platform} ${event.tag} ${event.status}`;
    case "python-progress":
      return describePythonMilestone(event.platform, event.progress);
    case "builder":
      return `builder ${event.builder}: ${event.reason}`;
    case "output":
      // The tool's own lines, prefixed so parallel builds stay readable.
      return `${event.builder} ${event.step} | ${event.line}`;
    case "warning":
      return `warning: ${event.message}`;
    case "done":
      return `done ${event.digest}`;
  }
}

/** A line for each milestone of the Python step (plain output); undefined for byte ticks. */
function describePythonMilestone(platform: string, p: PythonStepProgress): string | undefined {
  const head = `python for ${platform}:`;
  switch (p.phase) {
    case "resolving":
      return `${head} resolving ${describeRequirements(p)}`;
    case "resolved":
      return `${head} ${p.wheels} wheels to install${p.fromCache ? " (resolution cached)" : ""}`;
    case "downloading": {
      const w = p.wheel;
      if (w.kind === "start") return `${head} downloading ${w.filename}`;
      if (w.kind === "done") return `${head} wheel ${p.done}/${p.wheels} ${w.filename} ${humanSize(w.size)} ${w.fromCache ? "cached" : "downloaded"}`;
      return undefined;
    }
    case "layer":
      if (p.status === "compressing") return p.read === 0 ? `${head} layer ${p.index}/${p.layers} (${p.wheels} wheels) compressing` : undefined;
      return `${head} layer ${p.index}/${p.layers} (${p.wheels} wheels) ${p.status === "cached" ? "cached" : `written, ${humanSize(p.read)} compressed to`} ${humanSize(p.size ?? 0)}`;
  }
}

/** `greet, fastmath==2.0 and requirements.txt` (the first few packages, then a count). */
function describeRequirements(p: Extract<PythonStepProgress, { phase: "resolving" }>): string {
  const shown = p.packages.length > 4 ? [...p.packages.slice(0, 3), `${p.packages.length - 3} more`] : [...p.packages];
  if (p.requirementsFile !== undefined) shown.push(p.requirementsFile);
  return shown.length > 1 ? `${shown.slice(0, -1).join(", ")} and ${shown.at(-1)!}` : (shown[0] ?? "nothing");
}

/** The live view's one line for the Python step while it works: what it is at, with counts and bytes. */
function describePythonNow(platform: string, p: PythonStepProgress): string {
  const head = `python for ${platform}:`;
  switch (p.phase) {
    case "resolving":
      return `${head} resolving ${describeRequirements(p)}…`;
    case "resolved":
      return `${head} resolved ${p.wheels} wheels`;
    case "downloading": {
      const total = p.knownBytes > p.bytes ? ` of ${humanSize(p.knownBytes)}` : "";
      return `${head} downloading wheels ${p.done}/${p.wheels}${p.cached > 0 ? ` (${p.cached} cached)` : ""} ${humanSize(p.bytes)}${total}`;
    }
    case "layer":
      return p.status === "compressing"
        ? `${head} compressing layer ${p.index}/${p.layers} (${p.wheels} wheels) ${humanSize(p.read)} read`
        : `${head} layer ${p.index}/${p.layers} ${p.status} ${humanSize(p.size ?? 0)}`;
  }
}

interface BlobState {
  size: number;
  bytes: number;
  status: string;
  started: number;
  ended?: number;
}

interface ImageState {
  readonly image: string;
  readonly started: number;
  ended?: number;
  status: "planning" | "building" | "pushing" | "exists" | "done";
  digest?: string;
  builder?: string;
  /** Step lines by key (python/apt per platform, layers), in arrival order. */
  readonly steps: Map<string, string>;
  readonly blobs: Map<string, BlobState>;
  manifests: number;
  /** The last lines of a Dockerfile builder's output. */
  readonly output: string[];
}

const OUTPUT_LINES = 4;
const REDRAW_MS = 100;
const ESC = "\u001b[";

/** The live view. Every frame is the whole state, so a late or missed redraw loses nothing. */
export class LiveProgress implements Progress {
  private readonly images = new Map<string, ImageState>();
  private readonly notes: string[] = [];
  private readonly started = Date.now();
  private drawnLines = 0;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(private readonly out: Output) {
    out.write(`${ESC}?25l`);
    this.timer = setInterval(() => this.draw(), REDRAW_MS);
    this.timer.unref();
    // Whatever happens, the cursor comes back.
    process.once("exit", this.restoreCursor);
  }

  private readonly restoreCursor = () => {
    if (!this.ended) this.out.write(`${ESC}?25h`);
  };

  readonly note = (text: string): void => {
    this.notes.push(text);
  };

  readonly onEvent = (event: BuildEvent): void => {
    let state = this.images.get(event.image);
    if (!state) {
      state = { image: event.image, started: Date.now(), status: "planning", steps: new Map(), blobs: new Map(), manifests: 0, output: [] };
      this.images.set(event.image, state);
    }
    switch (event.kind) {
      case "plan":
        state.status = "building";
        break;
      case "exists":
        state.status = "exists";
        state.digest = event.digest;
        state.ended = Date.now();
        break;
      case "builder":
        state.builder = event.builder;
        break;
      case "push": {
        state.status = "pushing";
        const e = event.event;
        if (e.type === "manifest") {
          state.manifests++;
          break;
        }
        const blob = state.blobs.get(e.digest) ?? { size: e.size, bytes: 0, status: "waiting", started: Date.now() };
        blob.status = e.status;
        if (e.status === "uploading") blob.bytes = e.bytes;
        else {
          blob.bytes = e.size;
          blob.ended = Date.now();
        }
        state.blobs.set(e.digest, blob);
        break;
      }
      case "output":
        state.output.push(`${event.builder} ${event.step} | ${event.line}`);
        if (state.output.length > OUTPUT_LINES) state.output.shift();
        break;
      case "warning":
        this.notes.push(`${event.image}: warning: ${event.message}`);
        break;
      case "done":
        state.status = "done";
        state.digest = event.digest;
        state.ended = Date.now();
        state.output.length = 0;
        break;
      case "layer":
        state.steps.set(`layer ${event.digest}`, describeEvent(event)!);
        break;
      case "base":
      case "python":
      case "apt":
        state.steps.set(`${event.kind} ${event.platform}`, describeEvent(event)!);
        break;
      case "python-progress":
        // The same line as the step's result, which replaces it when the step ends.
        state.steps.set(`python ${event.platform}`, describePythonNow(event.platform, event.progress));
        break;
      case "step-cache":
        break;
    }
  };

  readonly end = (): void => {
    if (this.ended) return;
    if (this.timer) clearInterval(this.timer);
    this.draw(true);
    this.ended = true;
    this.out.write(`${ESC}?25h`);
    process.removeListener("exit", this.restoreCursor);
  };

  private draw(final = false): void {
    if (this.ended) return;
    const width = Math.max(40, (this.out.columns || 120) - 1);
    const fit = (line: string) => (line.length > width ? `${line.slice(0, width - 1)}…` : line);
    const lines = this.frame(final).map(fit);
    // Back to the top of the previous frame, clear it, and write this one.
    const up = this.drawnLines > 0 ? `${ESC}${this.drawnLines}F${ESC}J` : "";
    this.out.write(`${up}${lines.join("\n")}\n`);
    this.drawnLines = lines.length;
  }

  private frame(final: boolean): string[] {
    const now = Date.now();
    const seconds = (from: number, to = now) => `${((to - from) / 1000).toFixed(1)}s`;
    const images = [...this.images.values()];
    const finished = images.filter((i) => i.status === "done" || i.status === "exists").length;
    const lines = [...this.notes, `[+] ${final ? "Finished" : "Building"} ${seconds(this.started)} (${finished}/${images.length} images)`];
    for (const state of images) {
      const failed = final && state.ended === undefined;
      const status = failed ? "FAILED" : state.status === "done" ? `DONE ${state.digest?.slice(0, 19) ?? ""}` : state.status === "exists" ? `EXISTS ${state.digest?.slice(0, 19) ?? ""}` : state.status;
      lines.push(` => ${state.image}${state.builder ? ` (${state.builder})` : ""}  ${status}  ${seconds(state.started, state.ended)}`);
      if (state.status === "exists") continue;
      for (const step of state.steps.values()) lines.push(`    ${step}`);
      for (const [digest, blob] of state.blobs) lines.push(`    ${describeBlob(digest, blob, now)}`);
      if (state.manifests > 0) lines.push(`    ${state.manifests} manifest(s) pushed`);
      for (const out of state.output) lines.push(`    ${out}`);
    }
    return lines;
  }
}

function describeBlob(digest: string, blob: BlobState, now: number): string {
  const head = `blob ${digest.slice(0, 19)} ${humanSize(blob.size).padStart(10)}`;
  if (blob.status !== "uploading") return `${head}  ${blob.status}`;
  const elapsed = Math.max(0.001, (now - blob.started) / 1000);
  const percent = blob.size > 0 ? Math.floor((blob.bytes / blob.size) * 100) : 100;
  return `${head}  uploading ${String(percent).padStart(3)}% ${humanSize(blob.bytes)} at ${humanSize(Math.round(blob.bytes / elapsed))}/s`;
}
