// `imagespec exists REF_OR_SPEC...`: is each image there? Three answers, never two: present (with
// its digest), absent, or an error that says why we cannot tell. Exit 0 when all are present, 1
// when any is absent, 2 when anything could not be answered (an error is never read as yes or no).
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { defaultCacheDir, fileHashingIn } from "../../build/cache-dir.js";
import { DEFAULT_LAYOUT_DIR } from "../../build/destination.js";
import { mapLimited } from "../../concurrency.js";
import { ImagespecError } from "../../errors.js";
import { redactSecrets } from "../../reference/index.js";
import { LayoutError, readLayout } from "../../oci/index.js";
import { formatReference, parseReference, withDigest } from "../../reference/index.js";
import { formatImageLocation, parseImageLocation, type ImageLocation, type Registry } from "../../registry/index.js";
import { imageName, loadSpecs } from "../../spec/index.js";
import { addRegistryOptions, registryFromOptions, registryHosts, type RegistryFlags } from "../registry-options.js";
import type { RegisterCommand } from "./index.js";

interface ExistsFlags extends RegistryFlags {
  quiet?: boolean;
  json?: boolean;
}

/** One image to check: from a reference argument, or one spec of a spec file. */
interface Target {
  readonly input: string;
  /** The spec's key in its file (spec files only). */
  readonly key?: string;
  readonly name: string;
  readonly location?: ImageLocation;
  /** Set when the argument could not even be turned into a location. */
  readonly error?: unknown;
}

export type ExistsStatus = "present" | "absent" | "error";

/** One line of `--json` output. */
export interface ExistsEntry {
  input: string;
  key?: string;
  name: string;
  status: ExistsStatus;
  digest?: string;
  mediaType?: string;
  size?: number;
  error?: { code: string; message: string; hint?: string };
}

const SPEC_EXTENSION = /\.(ya?ml|json|[cm]?[jt]s)$/i;

/** An existing file is a spec file; so is a spec-looking name without ':' (reported as missing). */
function isSpecFile(arg: string): boolean {
  if (arg.startsWith("oci:")) return false;
  try {
    if (statSync(arg).isFile()) return true;
  } catch {
    // not a file: a reference, or a spec file that is missing
  }
  return SPEC_EXTENSION.test(arg) && !arg.includes(":") && !arg.includes("@");
}

async function resolveTargets(args: readonly string[]): Promise<Target[]> {
  const targets: Target[] = [];
  for (const input of args) {
    try {
      if (!isSpecFile(input)) {
        const location = parseImageLocation(input);
        targets.push({ input, name: formatImageLocation(location), location });
        continue;
      }
      for (const { key, spec } of await loadSpecs(input)) {
        const name = await imageName(spec, fileHashingIn(defaultCacheDir()));
        // Where `imagespec build` puts a spec that names no registry: the working folder's layout.
        const location: ImageLocation =
          spec.registry === undefined ? { kind: "layout", layout: { dir: DEFAULT_LAYOUT_DIR, tag: name } } : { kind: "registry", reference: parseReference(name) };
        targets.push({ input, key, name: location.kind === "layout" ? formatImageLocation(location) : name, location });
      }
    } catch (error) {
      // An argument that could not be parsed is shown back without any credential typed into it.
      targets.push({ input: redactSecrets(input), name: redactSecrets(input), error });
    }
  }
  return targets;
}

type Answer = { present: true; digest: string; mediaType: string; size: number } | { present: false };

/** A layout answers like a registry: no directory or no such tag is absent; a damaged layout is an error. */
async function layoutExists(dir: string, tag: string | undefined): Promise<Answer> {
  if (!existsSync(dir)) return { present: false };
  if (existsSync(join(dir, "oci-layout")) && !existsSync(join(dir, "index.json"))) return { present: false };
  try {
    const value = await readLayout(dir, tag !== undefined ? { tag } : {});
    const bytes = "indexBytes" in value ? value.indexBytes : value.manifestBytes;
    return { present: true, digest: value.digest, mediaType: value.mediaType, size: bytes.length };
  } catch (error) {
    if (error instanceof LayoutError && error.code === "LAYOUT_TAG_NOT_FOUND") return { present: false };
    throw error;
  }
}

async function check(registry: Registry, target: Target): Promise<ExistsEntry> {
  const base = { input: target.input, ...(target.key !== undefined ? { key: target.key } : {}), name: target.name };
  try {
    if (target.error !== undefined || !target.location) throw target.error;
    const location = target.location;
    const answer = location.kind === "layout" ? await layoutExists(location.layout.dir, location.layout.tag) : await registry.exists(location.reference);
    if (!answer.present) return { ...base, status: "absent" };
    return { ...base, status: "present", digest: answer.digest, mediaType: answer.mediaType, size: answer.size };
  } catch (error) {
    return { ...base, status: "error", error: describeError(error) };
  }
}

function describeError(error: unknown): NonNullable<ExistsEntry["error"]> {
  if (error instanceof ImagespecError) return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  return { code: "UNEXPECTED", message: error instanceof Error ? error.message : String(error), hint: "this is unexpected; rerun with --verbose and report it with the output" };
}

/** `present NAME@DIGEST`: a pinned name, usable as is (a name already pinned is not pinned twice). */
function pinned(entry: ExistsEntry, location: ImageLocation | undefined): string {
  if (location?.kind === "registry") return formatReference(withDigest(location.reference, entry.digest!));
  return `${entry.name}@${entry.digest!}`;
}

export async function runExists(args: readonly string[], flags: ExistsFlags): Promise<number> {
  const targets = await resolveTargets(args);
  let registry: Registry;
  try {
    registry = await registryFromOptions(flags, { credentialHosts: registryHosts(targets.flatMap((t) => (t.location ? [t.location] : []))) });
  } catch (error) {
    const { message, hint } = describeError(error);
    process.stderr.write(`error: ${message}\n${hint ? `hint: ${hint}\n` : ""}`);
    return 2;
  }
  let entries: ExistsEntry[];
  try {
    entries = await mapLimited(targets, flags.concurrency ?? 4, (t) => check(registry, t));
  } finally {
    await registry.close();
  }
  for (const [i, entry] of entries.entries()) {
    if (entry.status !== "error") continue;
    process.stderr.write(`error: ${entry.error!.message}\n${entry.error!.hint ? `hint: ${entry.error!.hint}\n` : ""}`);
    if (entry.name !== entry.input && targets[i]?.key !== undefined) process.stderr.write(`  (checking ${entry.name} from ${entry.input})\n`);
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
  else if (!flags.quiet) {
    for (const [i, entry] of entries.entries()) {
      if (entry.status === "present") process.stdout.write(`present ${pinned(entry, targets[i]?.location)}\n`);
      else process.stdout.write(`${entry.status} ${entry.name}\n`);
    }
  }
  if (entries.some((e) => e.status === "error")) return 2;
  return entries.some((e) => e.status === "absent") ? 1 : 0;
}

export const registerExistsCommand: RegisterCommand = (program: Command) => {
  const command = program
    .command("exists")
    .description("tell whether images are in their registry (or OCI layout): exit 0 all present, 1 any absent, 2 could not tell")
    .argument("<ref-or-spec...>", "image references (host/repo:tag, host/repo@digest, oci:DIR:TAG) or spec files (each spec's full image name is checked)")
    .option("-q, --quiet", "print nothing on stdout; only the exit code answers (errors still go to stderr)")
    .option("--json", "print a JSON array with one entry per image on stdout");
  addRegistryOptions(command);
  command.addHelpText(
    "after",
    `
Prints one line per image on stdout:
  present NAME@DIGEST     the manifest is there
  absent NAME             the registry (or layout) says it is not there
  error NAME              it could not be told (auth, TLS, network, a bad argument);
                          the reason and a hint go to stderr

An argument naming an existing file is read as a spec file: every spec in it is checked under
its full image name (the one \`imagespec tag\` prints). A spec without a registry is looked for
in the layout ${DEFAULT_LAYOUT_DIR}, where \`imagespec build\` writes it.

Exit codes: 0 all present, 1 at least one absent, 2 at least one error (an error is never
counted as present or absent).

Examples:
  imagespec exists registry.example.com/team/app:v1
  imagespec exists imagespec.yaml || imagespec build imagespec.yaml
  imagespec exists --quiet oci:./out:v1 && echo "already built"
  imagespec exists --json specs/*.yaml
  printf %s "$TOKEN" | imagespec exists --username ci --password-stdin registry.example.com/app:v1`,
  );
  command.action(async (args: string[], flags: ExistsFlags) => {
    process.exitCode = await runExists(args, flags);
  });
};
