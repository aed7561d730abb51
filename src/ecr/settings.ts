// The spec's `ecr` settings checked as CreateRepository checks them (resource tags, tag mutability
// exclusion filters), so that settings ECR would refuse stop when the spec is loaded, not at the
// first push after a build. The ECR spec vendor (./spec-vendor.ts) calls this while a spec loads, so it
// imports nothing but errors.
import { EcrError } from "./errors.js";
import { validateLifecyclePolicy } from "./policy.js";

/** One setting ECR would refuse, at a path under `ecr`. */
export interface SettingsProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
  readonly hint?: string;
}

/** The settings this checks, as the spec schema holds them before defaults are applied. */
export interface RepositorySettings {
  readonly tags?: Readonly<Record<string, string>>;
  readonly tagMutabilityExclusions?: readonly string[];
  readonly lifecyclePolicy?: unknown;
}

/** A repository has at most 50 tags. */
const MAX_TAGS = 50;
/** Letters, digits, spaces and `_ . : / = + - @`: what AWS allows in tag keys and values. */
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
/** CreateRepository takes 1 to 5 exclusion filters, each of these characters. */
const MAX_EXCLUSIONS = 5;
const EXCLUSION_FILTER = /^[0-9a-zA-Z._*-]{1,128}$/;

/** Every tag and exclusion filter CreateRepository would refuse; empty when it accepts them. */
export function checkRepositorySettings(settings: RepositorySettings): SettingsProblem[] {
  const problems: SettingsProblem[] = [];
  const tags = Object.entries(settings.tags ?? {});
  if (tags.length > MAX_TAGS) problems.push({ path: ["tags"], message: `${tags.length} tags; an ECR repository has at most ${MAX_TAGS}` });
  for (const [key, value] of tags) {
    if (key.length === 0 || key.length > 128 || value.length > 256) {
      problems.push({ path: ["tags", key], message: `tag ${JSON.stringify(key)}: AWS tag keys are 1-128 characters and values at most 256` });
    } else if (!TAG_TEXT.test(key) || !TAG_TEXT.test(value)) {
      problems.push({ path: ["tags", key], message: `tag ${JSON.stringify(key)}: AWS tags hold letters, digits, spaces and _ . : / = + - @ only`, hint: "replace other characters, e.g. with -" });
    } else if (key.toLowerCase().startsWith("aws:")) {
      problems.push({ path: ["tags", key], message: `tag ${JSON.stringify(key)}: keys starting with aws: are reserved for AWS`, hint: "choose another key" });
    }
  }
  const exclusions = settings.tagMutabilityExclusions ?? [];
  if (exclusions.length > MAX_EXCLUSIONS) problems.push({ path: ["tagMutabilityExclusions"], message: `${exclusions.length} filters; ECR takes at most ${MAX_EXCLUSIONS}` });
  exclusions.forEach((filter, index) => {
    if (!EXCLUSION_FILTER.test(filter)) {
      problems.push({ path: ["tagMutabilityExclusions", index], message: `${JSON.stringify(filter)} is not an ECR tag filter: 1-128 letters, digits, '.', '_', '-', with '*' as the wildcard` });
    }
  });
  return problems;
}

/** Throws EcrError INVALID_ECR_SETTINGS (or INVALID_LIFECYCLE_POLICY) unless ECR would accept the settings. */
export function validateRepositorySettings(settings: RepositorySettings): void {
  const problems = checkRepositorySettings(settings);
  if (problems.length > 0) {
    const lines = problems.map((p) => `ecr.${p.path.join(".")}: ${p.message}`);
    throw new EcrError("INVALID_ECR_SETTINGS", lines.length === 1 ? lines[0]! : `${lines.length} ecr settings ECR would refuse\n  ${lines.join("\n  ")}`, {
      hint: `${problems.find((p) => p.hint)?.hint ?? "fix the ecr settings"}; nothing was changed in ECR`,
    });
  }
  if (settings.lifecyclePolicy !== undefined) validateLifecyclePolicy(settings.lifecyclePolicy);
}
