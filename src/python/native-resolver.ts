// Resolution without starting pip: the index's project pages and wheel metadata read directly
// (index-client.ts), requirements resolved for the target (its tags, Python version and marker
// environment, extras included), the newest version that satisfies every specifier among the
// wheels that run there, with bounded backtracking; `--pre`, `--no-deps` and `--hash` as pip
// reads them. Whatever it does not model (direct URLs, other pip options, sdist-only projects,
// an index it cannot read, a conflict it gives up on) raises NativeUnsupported, and the caller
// runs pip or uv instead, which also word the errors.
import { parseRequirement, type Requirement } from "../spec/index.js";
import { splitArguments } from "./arguments.js";
import { PythonError, redactSecrets } from "./errors.js";
import { IndexClient, IndexUnsupported, type IndexFile } from "./index-client.js";
import { evaluateMarker, markerEnvironment, type MarkerEnvironment } from "./markers.js";
import { filterVersions, formatVersion, parseSpecifierSet, parseVersion, setContains, compareVersion, type Specifier, type Version } from "./pep440.js";
import type { PythonRequirements, ResolvedWheel } from "./resolution.js";
import { withoutCredentials } from "./resolver.js";
import { wheelRank, type PythonTarget } from "./tags.js";
import { normalizeProjectName, parseWheelFilename } from "./wheel-filename.js";

/** Why the native resolver stepped aside; the message says what it met. */
/**
 * What the native resolver does not model; pip or uv take over, and the message says why. It quotes
 * the user's requirements and options, which may hold an index URL with a password: redacted here,
 * once, for every reason.
 */
export class NativeUnsupported extends Error {
  constructor(reason: string) {
    super(redactSecrets(reason));
  }
}

export const DEFAULT_INDEX_URL = "https://pypi.org/simple/";

export interface NativeRun {
  readonly requirements: PythonRequirements;
  /** The requirements file's text, when there is one. */
  readonly requirementsContent?: string;
  readonly target: PythonTarget;
  readonly signal?: AbortSignal;
  /** Candidate versions tried before giving up on a conflict (default 2000). */
  readonly maxAttempts?: number;
}

export interface NativeResult {
  readonly wheels: ResolvedWheel[];
  /** Index requests by kind, and candidate versions tried. */
  readonly stats: IndexClient["counts"] & { attempts: number };
}

interface Candidate {
  readonly name: string;
  readonly version: Version;
  readonly file: IndexFile;
}

interface Metadata {
  readonly version: string;
  readonly requires: readonly Requirement[];
  /** Normalised names of the extras the wheel declares (pip applies no other). */
  readonly providesExtras: ReadonlySet<string>;
  readonly requiresPython?: string;
}

/** Specifiers and extras asked of one project so far. */
interface Constraint {
  /** Position among the user's requirements; Infinity for a dependency. */
  readonly requested: number;
  /** 1 for the user's requirements, else one more than the shallowest parent's. */
  readonly depth: number;
  readonly specifiers: readonly Specifier[];
  readonly extras: ReadonlySet<string>;
}

interface Pin {
  readonly candidate: Candidate;
  readonly metadata: Metadata;
  /** Extras whose dependencies are already in the constraints. */
  readonly extras: ReadonlySet<string>;
}

interface State {
  readonly pins: Map<string, Pin>;
  readonly constraints: Map<string, Constraint>;
}

/** Sorts before another when pip's resolver would pin it first. */
function preference([name, constraint]: [string, Constraint]): string {
  const exact = constraint.specifiers.some((s) => (s.operator === "==" || s.operator === "===") && !s.version.endsWith(".*"));
  const requested = Number.isFinite(constraint.requested) ? constraint.requested : 999999;
  return [exact ? 0 : 1, String(constraint.depth).padStart(6, "0"), String(requested).padStart(6, "0"), constraint.specifiers.length > 0 ? 0 : 1, name].join(" ");
}

/** What the native resolver takes from the inputs: requirements, and per project the sha256 hashes a file must have (pip's hash-checking mode). */
export interface NativeInputs {
  readonly requirements: Requirement[];
  /** Empty unless the requirements file pins hashes (`--hash=sha256:...`), which turns hash checking on for every project. */
  readonly hashes: ReadonlyMap<string, ReadonlySet<string>>;
  /** pip's `--pre`: pre-releases count like releases. */
  readonly prereleases: boolean;
  /** pip's `--no-deps`: the requirements alone, none of their dependencies. */
  readonly noDeps: boolean;
}

/** The pip options the native resolver models; any other sends the resolution to pip. */
const MODELLED_OPTIONS = new Set(["--pre", "--no-deps"]);

const HASH_OPTION = /\s--hash[=\s]\s*([A-Za-z0-9]+):([0-9A-Fa-f]+)/g;

/** The requirements the native resolver can take, or NativeUnsupported naming what it cannot. */
export function nativeRequirements(requirements: PythonRequirements, requirementsContent: string | undefined): NativeInputs {
  const options = requirements.extraArgs === undefined ? [] : splitArguments(requirements.extraArgs);
  if (options.some((option) => !MODELLED_OPTIONS.has(option))) throw new NativeUnsupported(`pip options ${JSON.stringify(requirements.extraArgs)}`);
  const lines: { text: string; hashes: string[] }[] = requirements.packages.map((text) => ({ text, hashes: [] }));
  if (requirementsContent !== undefined) {
    for (const line of requirementsContent.replace(/\\\r?\n/g, " ").split(/\r?\n/)) {
      let text = ` ${line.replace(/(^|\s)#.*$/, "")}`;
      const hashes: string[] = [];
      for (const [, algorithm, digest] of text.matchAll(HASH_OPTION)) {
        if (algorithm!.toLowerCase() !== "sha256") throw new NativeUnsupported(`the ${algorithm} hash in ${JSON.stringify(line.trim())}`);
        hashes.push(digest!.toLowerCase());
      }
      text = text.replace(HASH_OPTION, "").trim();
      if (text === "") continue;
      if (text.startsWith("-")) throw new NativeUnsupported(`the requirements file line ${JSON.stringify(text)}`);
      if (/\$\{/.test(text)) throw new NativeUnsupported(`an environment variable in ${JSON.stringify(text)}`);
      lines.push({ text, hashes });
    }
  }
  const hashMode = lines.some((l) => l.hashes.length > 0);
  const hashes = new Map<string, Set<string>>();
  const parsed = lines.map(({ text, hashes: digests }) => {
    let requirement: Requirement;
    try {
      requirement = parseRequirement(text);
    } catch {
      throw new NativeUnsupported(`the requirement ${JSON.stringify(text)}`);
    }
    if (requirement.url !== undefined) throw new NativeUnsupported(`the direct URL of ${requirement.name}`);
    if (hashMode) {
      // pip's hash-checking mode wants every requirement pinned exactly and hashed; pip words what is missing.
      const pinned = requirement.specifiers.length === 1 && (requirement.specifiers[0]!.operator === "==" || requirement.specifiers[0]!.operator === "===") && !requirement.specifiers[0]!.version.endsWith(".*");
      if (!pinned || digests.length === 0) throw new NativeUnsupported(`hash-checking mode, and ${JSON.stringify(text)} is not pinned with ==version and --hash`);
      const name = normalizeProjectName(requirement.name);
      hashes.set(name, new Set([...(hashes.get(name) ?? []), ...digests]));
    }
    return requirement;
  });
  return { requirements: parsed, hashes, prereleases: options.includes("--pre"), noDeps: options.includes("--no-deps") };
}

export async function resolveNatively(run: NativeRun): Promise<NativeResult> {
  const inputs = nativeRequirements(run.requirements, run.requirementsContent);
  const indexUrls = [run.requirements.indexUrl ?? DEFAULT_INDEX_URL, ...(run.requirements.extraIndexUrls ?? [])];
  const client = new IndexClient({ indexUrls, ...(run.signal ? { signal: run.signal } : {}) });
  const resolver = new Resolver(client, indexUrls, run.target, inputs, run.maxAttempts ?? 2000);
  try {
    const wheels = await resolver.resolve(inputs.requirements);
    return { wheels, stats: { ...client.counts, attempts: resolver.attempts } };
  } catch (error) {
    if (run.signal?.aborted) throw error;
    if (error instanceof IndexUnsupported) throw new NativeUnsupported(error.message);
    // fetch fails with a TypeError (unreachable index); a marker or version it cannot read is a PythonError: pip words both.
    if (error instanceof TypeError || error instanceof PythonError) throw new NativeUnsupported(error.message);
    throw error;
  }
}

class Resolver {
  attempts = 0;
  private readonly env: MarkerEnvironment;
  private readonly pythonVersion: Version;
  private readonly projects = new Map<string, Promise<Candidate[]>>();
  private readonly metadata = new Map<string, Promise<Metadata>>();

  constructor(
    private readonly client: IndexClient,
    private readonly indexUrls: readonly string[],
    private readonly target: PythonTarget,
    private readonly inputs: Omit<NativeInputs, "requirements">,
    private readonly maxAttempts: number,
  ) {
    this.env = markerEnvironment(target);
    this.pythonVersion = parseVersion(this.env.python_full_version!)!;
  }

  async resolve(requirements: readonly Requirement[]): Promise<ResolvedWheel[]> {
    const state: State = { pins: new Map(), constraints: new Map() };
    for (const requirement of requirements) {
      // The user's own requirements see no extra (pip evaluates them with extra == "").
      if (requirement.marker !== undefined && !evaluateMarker(requirement.marker, this.env, [])) continue;
      await this.require(state, requirement, 0, requirements.indexOf(requirement));
    }
    const solved = await this.solve(state);
    if (solved === undefined) throw new NativeUnsupported("no set of versions satisfies every requirement");
    return [...solved.pins.values()]
      .map(({ candidate, metadata }) => ({
        name: candidate.name,
        version: metadata.version,
        url: withoutCredentials(candidate.file.url),
        sha256: candidate.file.sha256,
        filename: candidate.file.filename,
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Pins the preferred unpinned project (pip's order: exact pins, shallow, requested early, then
   * by name) to its newest workable candidate, then the rest; undefined when none works.
   */
  private async solve(state: State): Promise<State | undefined> {
    let next: [string, Constraint] | undefined;
    for (const entry of state.constraints) {
      if (!state.pins.has(entry[0]) && (next === undefined || preference(entry) < preference(next))) next = entry;
    }
    if (next === undefined) return state;
    const [name, constraint] = next;
    const candidates = filterVersions(await this.candidates(name), constraint.specifiers, (c) => c.version, this.inputs.prereleases);
    for (const candidate of candidates) {
      if (++this.attempts > this.maxAttempts) throw new NativeUnsupported(`gave up after trying ${this.maxAttempts} candidate versions`);
      const metadata = await this.metadataOf(candidate);
      if (metadata === undefined) continue;
      const trial: State = { pins: new Map(state.pins), constraints: new Map(state.constraints) };
      trial.pins.set(name, { candidate, metadata, extras: new Set() });
      await this.addDependencies(trial, name, constraint.extras);
      const solved = await this.solve(trial);
      if (solved !== undefined) return solved;
    }
    return undefined;
  }

  /**
   * Adds a requirement to the constraints. A pin it contradicts is dropped, to be chosen again
   * under the new constraints (resolvelib's way, which pip follows); its dependencies stay.
   */
  private async require(state: State, requirement: Requirement, parentDepth: number, requested = Infinity): Promise<void> {
    const name = normalizeProjectName(requirement.name);
    const before = state.constraints.get(name);
    let specifiers: Specifier[];
    try {
      specifiers = requirement.specifiers.length === 0 ? [] : parseSpecifierSet(requirement.specifiers.map((s) => `${s.operator}${s.version}`).join(","));
    } catch {
      throw new NativeUnsupported(`the version specifier of ${JSON.stringify(requirement.name)}`);
    }
    const extras = new Set([...(before?.extras ?? []), ...requirement.extras.map(normalizeProjectName)]);
    state.constraints.set(name, {
      requested: Math.min(before?.requested ?? Infinity, requested),
      depth: Math.min(before?.depth ?? Infinity, parentDepth + 1),
      specifiers: [...(before?.specifiers ?? []), ...specifiers],
      extras,
    });
    if (before === undefined) this.prefetch(name);
    const pin = state.pins.get(name);
    if (pin === undefined) return;
    if (!setContains(specifiers, pin.candidate.version)) {
      state.pins.delete(name);
      return;
    }
    await this.addDependencies(state, name, extras);
  }

  /**
   * Adds the pinned project's dependencies for what is not yet covered: its plain ones ("") and
   * each declared extra's (an undeclared extra is ignored, as pip ignores it).
   */
  private async addDependencies(state: State, name: string, extras: ReadonlySet<string>): Promise<void> {
    const pin = state.pins.get(name)!;
    if (this.inputs.noDeps) return;
    const fresh = ["", ...extras].filter((extra) => !pin.extras.has(extra) && (extra === "" || pin.metadata.providesExtras.has(extra)));
    if (fresh.length === 0) return;
    state.pins.set(name, { ...pin, extras: new Set([...pin.extras, ...fresh]) });
    for (const extra of fresh) {
      for (const dependency of pin.metadata.requires) {
        if (extra === "" ? dependency.marker !== undefined && !evaluateMarker(dependency.marker, this.env, []) : dependency.marker === undefined || !evaluateMarker(dependency.marker, this.env, [extra])) continue;
        if (dependency.url !== undefined) throw new NativeUnsupported(`${name} depends on a direct URL (${dependency.name})`);
        await this.require(state, dependency, state.constraints.get(name)?.depth ?? 1);
      }
    }
  }

  /** Starts fetching a project's page and its newest candidate's metadata, so they are there when needed. */
  private prefetch(name: string): void {
    this.candidates(name)
      .then((candidates) => (candidates[0] ? this.metadataOf(candidates[0]) : undefined))
      .catch(() => undefined);
  }

  /** The project's wheels that run on the target, one per version (the best tag), newest first. */
  private candidates(name: string): Promise<Candidate[]> {
    let found = this.projects.get(name);
    if (found === undefined) {
      found = this.findCandidates(name);
      this.projects.set(name, found);
      found.catch(() => undefined);
    }
    return found;
  }

  private async findCandidates(name: string): Promise<Candidate[]> {
    const { hashes } = this.inputs;
    const allowed = hashes.size === 0 ? undefined : hashes.get(name);
    if (hashes.size > 0 && allowed === undefined) throw new NativeUnsupported(`hash-checking mode, and ${name} has no hash in the requirements`);
    const pages = await Promise.all(this.indexUrls.map((index) => this.client.projectFiles(index, name)));
    const best = new Map<string, { candidate: Candidate; rank: number; build: number }>();
    let files = 0;
    let yanked = 0;
    let unhashed = 0;
    for (const file of pages.flat()) {
      files++;
      if (!file.filename.endsWith(".whl")) continue;
      let wheel;
      try {
        wheel = parseWheelFilename(file.filename);
      } catch {
        continue;
      }
      if (wheel.project !== name) continue;
      const version = parseVersion(wheel.version);
      const rank = wheelRank(file.filename, this.target);
      if (version === undefined || rank === undefined) continue;
      if (file.requiresPython !== undefined && !this.pythonFits(file.requiresPython)) continue;
      if (allowed !== undefined && (file.sha256 === undefined || !allowed.has(file.sha256))) {
        unhashed++;
        continue;
      }
      if (file.yanked) {
        yanked++;
        continue;
      }
      const key = formatVersion(version);
      const build = wheel.build === undefined ? -1 : Number.parseInt(wheel.build, 10);
      const current = best.get(key);
      // The best tag for the target, then the highest build number; the first index wins ties.
      if (current === undefined || rank < current.rank || (rank === current.rank && build > current.build)) best.set(key, { candidate: { name, version, file }, rank, build });
    }
    if (best.size === 0) {
      throw new NativeUnsupported(
        files === 0
          ? `${name} is not on the index`
          : unhashed > 0
            ? `no wheel of ${name} for the target has a hash the requirements allow`
            : yanked > 0 ? `only yanked wheels of ${name} fit the target` : `${name} has no wheel for the target`,
      );
    }
    return [...best.values()].map((b) => b.candidate).sort((a, b) => compareVersion(b.version, a.version));
  }

  private pythonFits(requiresPython: string): boolean {
    try {
      return setContains(parseSpecifierSet(requiresPython), this.pythonVersion);
    } catch {
      // pip ignores a Requires-Python it cannot read.
      return true;
    }
  }

  /** The candidate's version and requirements; undefined when its metadata rules it out for the target's Python. */
  private async metadataOf(candidate: Candidate): Promise<Metadata | undefined> {
    const key = candidate.file.url;
    let found = this.metadata.get(key);
    if (found === undefined) {
      found = this.client.wheelMetadata(candidate.file).then((text) => readMetadata(text, candidate));
      this.metadata.set(key, found);
      found.catch(() => undefined);
    }
    const metadata = await found;
    return metadata.requiresPython !== undefined && !this.pythonFits(metadata.requiresPython) ? undefined : metadata;
  }
}

/** The core metadata headers the resolver needs (the body after the first blank line is the description). */
function readMetadata(text: string, candidate: Candidate): Metadata {
  const headers: [string, string][] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === "") break;
    if (/^[ \t]/.test(line) && headers.length > 0) headers[headers.length - 1]![1] += ` ${line.trim()}`;
    else {
      const colon = line.indexOf(":");
      if (colon > 0) headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
    }
  }
  const field = (name: string) => headers.filter(([key]) => key === name).map(([, value]) => value);
  const name = field("name")[0];
  const version = field("version")[0];
  if (name === undefined || version === undefined || normalizeProjectName(name) !== candidate.name) {
    throw new NativeUnsupported(`the metadata of ${candidate.file.filename} names ${name ?? "no project"} ${version ?? ""}`);
  }
  const parsed = parseVersion(version);
  if (parsed === undefined || compareVersion(parsed, candidate.version) !== 0) throw new NativeUnsupported(`the metadata of ${candidate.file.filename} says version ${version}`);
  const requires = field("requires-dist").map((text) => {
    try {
      return parseRequirement(text);
    } catch {
      throw new NativeUnsupported(`the dependency ${JSON.stringify(text)} of ${candidate.file.filename}`);
    }
  });
  const requiresPython = field("requires-python")[0];
  const providesExtras = new Set(field("provides-extra").map(normalizeProjectName));
  return { version, requires, providesExtras, ...(requiresPython !== undefined && requiresPython !== "" ? { requiresPython } : {}) };
}
