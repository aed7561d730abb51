// `imagespec register`: build (or find) every image the tasks run in, verify each is in its
// registry, then create tasks, workflows and launch plans in FlyteAdmin, in that order, so every
// reference points at something registered. Nothing is registered unless every image is verified
// present: a task is never registered against an image whose existence is unknown.
import type { BuildResult, ImageBuilder } from "../build/index.js";
import type { Registry } from "../registry/index.js";
import type { FileHashing, ImageSpec } from "../spec/index.js";
import { mapLimited } from "../concurrency.js";
import type { AdminClient, CreateOutcome } from "./admin.js";
import { WorkflowError } from "./errors.js";
import { contentVersion, entityOrder, resolveImages, serializeEntities, type Entities, type Serialized, type Target } from "./serialize.js";

export interface RegisterOptions {
  readonly project: string;
  readonly domain: string;
  /** Default: a hash of everything serialised, image names included. */
  readonly version?: string;
  /** Folder relative spec paths resolve against (the workflow file's). */
  readonly baseDir?: string;
  /** Applied to every spec before its name is computed (a run's default registry or platform). */
  readonly adjustSpec?: (spec: ImageSpec) => ImageSpec;
  /** Where the digests of big files the image names hash are remembered (see fileHashingIn); default: this process only. */
  readonly hashing?: FileHashing;
  /** Builds the specs (each once; an existing tag is skipped). */
  readonly builder: Pick<ImageBuilder, "build">;
  /** Checks images named by a reference string, and verifies every image before registration. */
  readonly registry: Pick<Registry, "exists">;
  /** Not needed for a dry run. */
  readonly admin?: Pick<AdminClient, "createTask" | "createWorkflow" | "createLaunchPlan" | "activateLaunchPlan">;
  /** Activate every launch plan that has a schedule, so the schedule runs (FlyteAdmin creates them inactive). */
  readonly activateSchedules?: boolean;
  /** Build nothing and register nothing; report what would happen (existence is still checked). */
  readonly dryRun?: boolean;
  /** Images built at once (default 4). */
  readonly concurrency?: number;
  readonly onEvent?: (event: RegisterEvent) => void;
  readonly signal?: AbortSignal;
}

export type ImageStatus = "built" | "exists" | "would-build" | "present";

export interface ImageOutcome {
  readonly image: string;
  /** The tasks that run in it. */
  readonly tasks: readonly string[];
  readonly status: ImageStatus;
  readonly digest?: string;
  readonly fromSpec: boolean;
}

export interface EntityOutcome {
  readonly kind: "task" | "workflow" | "launchplan";
  readonly name: string;
  readonly status: CreateOutcome | "would-register" | "would-activate" | "activated";
}

export interface RegisterResult {
  readonly version: string;
  readonly target: Target;
  readonly images: readonly ImageOutcome[];
  readonly entities: readonly EntityOutcome[];
  readonly serialized: Serialized;
}

export type RegisterEvent = { readonly kind: "image"; readonly outcome: ImageOutcome } | { readonly kind: "entity"; readonly outcome: EntityOutcome } | { readonly kind: "version"; readonly version: string };

const VERSION_PATTERN = /^[A-Za-z0-9_.:+-]{1,128}$/;
const NAME_PATTERN = /^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$/i;

/** Throws when any failed: the error itself when all failed the same way, else one error listing them. */
function firstFailure(results: readonly PromiseSettledResult<unknown>[], what: string): void {
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  const messages = [...new Set(failed.map((f) => (f.reason instanceof Error ? f.reason.message : String(f.reason))))];
  if (messages.length === 1) throw failed[0]!.reason;
  if (messages.length > 1) {
    const hint = failed.map((f) => (f.reason as { hint?: string }).hint).find((h) => typeof h === "string") ?? "fix the first problem and run again";
    throw new WorkflowError("WORKFLOW_FAILED", `${failed.length} ${what} failed:\n  ${messages.join("\n  ")}`, hint);
  }
}

export async function registerEntities(entities: Entities, options: RegisterOptions): Promise<RegisterResult> {
  for (const [flag, value] of [["--project", options.project], ["--domain", options.domain]] as const) {
    if (!NAME_PATTERN.test(value)) throw new WorkflowError("INVALID_OPTION", `${flag} ${JSON.stringify(value)} is not a Flyte project or domain name`, "use letters, digits, - and _");
  }
  if (options.version !== undefined && !VERSION_PATTERN.test(options.version)) {
    throw new WorkflowError("INVALID_OPTION", `--version ${JSON.stringify(options.version)} is not a usable version`, "use up to 128 letters, digits and . _ - + :");
  }
  const images = await resolveImages(entities, options.baseDir, options.adjustSpec, options.hashing);
  const version = options.version ?? contentVersion(entities, images);
  options.onEvent?.({ kind: "version", version });
  const target: Target = { project: options.project, domain: options.domain, version };
  const serialized = serializeEntities(entities, images, target);

  // One build per image name, however many tasks run in it.
  const byImage = new Map<string, { spec?: ImageSpec; tasks: string[] }>();
  for (const [task, image] of images) {
    const entry = byImage.get(image.image) ?? { ...(image.spec ? { spec: image.spec } : {}), tasks: [] };
    entry.tasks.push(task);
    byImage.set(image.image, entry);
  }
  const list = [...byImage.entries()];
  const outcomes = await mapLimited(list, options.concurrency ?? 4, async ([image, { spec, tasks }]): Promise<ImageOutcome> => {
    const outcome = spec ? await specImage(image, spec, tasks, options) : await referencedImage(image, tasks, options);
    options.onEvent?.({ kind: "image", outcome });
    return outcome;
  }, { settle: true });
  firstFailure(outcomes, "images");
  const imageOutcomes = outcomes.map((o) => (o as PromiseFulfilledResult<ImageOutcome>).value);

  const entityOutcomes: EntityOutcome[] = [];
  const record = (outcome: EntityOutcome) => {
    entityOutcomes.push(outcome);
    options.onEvent?.({ kind: "entity", outcome });
  };
  if (options.dryRun) {
    for (const item of entityOrder(serialized)) record({ kind: item.kind, name: item.entity.name, status: "would-register" });
    if (options.activateSchedules) for (const l of scheduled(serialized)) record({ kind: "launchplan", name: l.name, status: "would-activate" });
    return { version, target, images: imageOutcomes, entities: entityOutcomes, serialized };
  }
  const admin = options.admin;
  if (!admin) throw new Error("registerEntities needs an AdminClient unless dryRun is set");
  // Tasks at once, then workflows and launch plans one by one, each after what it refers to.
  firstFailure(await mapLimited(serialized.tasks, 8, async (t) => record({ kind: "task", name: t.name, status: await admin.createTask({ id: t.id, spec: t.spec }) }), { settle: true }), "tasks");
  for (const item of entityOrder(serialized)) {
    if (item.kind === "workflow") record({ kind: "workflow", name: item.entity.name, status: await admin.createWorkflow({ id: item.entity.id, spec: item.entity.spec }) });
    else if (item.kind === "launchplan") record({ kind: "launchplan", name: item.entity.name, status: await admin.createLaunchPlan({ id: item.entity.id, spec: item.entity.plan.spec }) });
  }
  if (options.activateSchedules) {
    firstFailure(await mapLimited(scheduled(serialized), 8, async (l) => {
      await admin.activateLaunchPlan(l.id);
      record({ kind: "launchplan", name: l.name, status: "activated" });
    }, { settle: true }), "launch plan activations");
  }
  return { version, target, images: imageOutcomes, entities: entityOutcomes, serialized };
}

function scheduled(serialized: Serialized): Serialized["launchPlans"] {
  return serialized.launchPlans.filter((l) => l.plan.spec?.entityMetadata?.schedule);
}

function taskList(tasks: readonly string[]): string {
  return tasks.length === 1 ? `task "${tasks[0]}"` : `tasks ${tasks.map((t) => `"${t}"`).join(", ")}`;
}

/** Present, with its digest; absent or unknown is an error naming the tasks. */
async function verifyPresent(image: string, tasks: readonly string[], options: RegisterOptions, absentHint: string): Promise<string> {
  let found;
  try {
    found = await options.registry.exists(image, options.signal);
  } catch (error) {
    const e = error as { message?: string; hint?: string };
    throw new WorkflowError("WORKFLOW_IMAGE_UNVERIFIED", `cannot verify that ${image} (image of ${taskList(tasks)}) is in its registry: ${e.message ?? String(error)}`, e.hint ?? "check the registry's address and credentials; nothing was registered", error);
  }
  if (!found.present) throw new WorkflowError("WORKFLOW_IMAGE_MISSING", `${image} (image of ${taskList(tasks)}) is not in its registry`, absentHint);
  return found.digest;
}

async function specImage(image: string, spec: ImageSpec, tasks: readonly string[], options: RegisterOptions): Promise<ImageOutcome> {
  if (options.dryRun) {
    let found;
    try {
      found = await options.registry.exists(image, options.signal);
    } catch (error) {
      const e = error as { message?: string; hint?: string };
      throw new WorkflowError("WORKFLOW_IMAGE_UNVERIFIED", `cannot tell whether ${image} (image of ${taskList(tasks)}) exists: ${e.message ?? String(error)}`, e.hint ?? "check the registry's address and credentials", error);
    }
    return found.present ? { image, tasks, status: "exists", digest: found.digest, fromSpec: true } : { image, tasks, status: "would-build", fromSpec: true };
  }
  const result: BuildResult = await options.builder.build(spec);
  if (result.image !== image) throw new Error(`built ${result.image}, expected ${image}`);
  const digest = await verifyPresent(image, tasks, options, "the build reported success but the registry does not have the image; check the registry");
  return { image, tasks, status: result.status, digest, fromSpec: true };
}

async function referencedImage(image: string, tasks: readonly string[], options: RegisterOptions): Promise<ImageOutcome> {
  const digest = await verifyPresent(image, tasks, options, "push the image first, fix the name, or declare the image as an ImageSpec so it is built");
  return { image, tasks, status: "present", digest, fromSpec: false };
}
