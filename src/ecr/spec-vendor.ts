// Amazon ECR as a spec vendor (src/spec/vendor.ts): the spec's `ecr` block (repository creation,
// tag mutability, scanning, encryption, tags, cross-account pull, lifecycle policy, ECR Public
// catalog data) checked as ECR checks it, ECR registry hosts checked ("did you mean us-east-1?"),
// and a spec pushing to ECR checked against its registry (ECR Public's alias and names, settings
// that apply to one kind of registry only). Importing this module registers the vendor; the
// package's entry points do. It imports zod, src/spec and ECR's rule tables only, never the AWS SDK:
// loading a spec must stay fast.
import { z } from "zod";
import { parseRegistryLocation } from "../reference/reference.js";
import { checkedList, scalarText, text } from "../spec/schema.js";
import { registerSpecVendor, type SpecVendor } from "../spec/vendor.js";
import { checkEcrHost, looksLikeEcrHost } from "./host.js";
import { checkLifecyclePolicy, LIFECYCLE_POLICY_HINT } from "./policy.js";
import { catalogDataSchema, checkPublicRepository, checkSettingsForRegistry } from "./public.js";
import { checkRepositorySettings } from "./settings.js";

export const TAG_MUTABILITIES = ["MUTABLE", "IMMUTABLE", "MUTABLE_WITH_EXCLUSION", "IMMUTABLE_WITH_EXCLUSION"] as const;

const ACCOUNT_OR_PRINCIPAL = /^(?:\d{12}|arn:aws(?:-cn|-us-gov|-iso|-iso-b|-iso-e|-iso-f|-eusc)?:iam::\d{12}:(?:root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+))$/;

// The whole document is checked as ECR checks it (src/ecr/policy.ts), so a policy ECR would refuse
// stops at loading, before any repository is created.
const lifecyclePolicySchema = z.looseObject({}).superRefine((policy, ctx) => {
  for (const problem of checkLifecyclePolicy(policy)) {
    ctx.addIssue({ code: "custom", message: problem.message, path: [...problem.path], input: policy, params: { hint: LIFECYCLE_POLICY_HINT } });
  }
});

/**
 * ECR tag mutability when the spec says nothing: image tags are content hashes, so a tag never
 * needs to move (IMMUTABLE protects it from being overwritten by anything else), except the
 * step-cache tags `imagespec-cache-*` that imagespec itself rewrites when an entry changes
 * (docs/native-builder.md).
 */
export const DEFAULT_TAG_MUTABILITY = {
  tagMutability: "IMMUTABLE_WITH_EXCLUSION",
  tagMutabilityExclusions: ["imagespec-cache-*"],
} as const satisfies { tagMutability: (typeof TAG_MUTABILITIES)[number]; tagMutabilityExclusions: readonly string[] };

export const ecrEncryptionSchema = z.strictObject({
  type: z.enum(["AES256", "KMS"]).default("AES256"),
  kmsKey: text.optional(),
});

export const ecrSchema = z
  .strictObject({
    createRepository: z.boolean().default(true),
    /** Default (neither this nor the exclusions given): IMMUTABLE_WITH_EXCLUSION of `imagespec-cache-*`; see DEFAULT_TAG_MUTABILITY. */
    tagMutability: z.enum(TAG_MUTABILITIES).optional(),
    /** Wildcard filters for the *_WITH_EXCLUSION mutabilities, e.g. "latest" or "dev-*". */
    tagMutabilityExclusions: z.array(text).optional(),
    scanOnPush: z.boolean().default(false),
    encryption: ecrEncryptionSchema.prefault({}),
    tags: z.record(z.string(), scalarText).default({}),
    allowPullFrom: checkedList(z.string(), (principal) =>
      ACCOUNT_OR_PRINCIPAL.test(principal)
        ? undefined
        : {
            message: `${JSON.stringify(principal)} is neither a 12-digit AWS account id nor an IAM role/user ARN`,
            hint: "write 123456789012 or arn:aws:iam::123456789012:role/name",
          },
    ).default([]),
    lifecyclePolicy: lifecyclePolicySchema.optional(),
    /** ECR Public: what the Public Gallery shows (src/ecr/public.ts). */
    catalogData: catalogDataSchema.optional(),
  })
  .superRefine((ecr, ctx) => {
    if (ecr.encryption.kmsKey !== undefined && ecr.encryption.type !== "KMS") {
      ctx.addIssue({ code: "custom", message: "a kmsKey needs encryption type KMS", path: ["encryption", "kmsKey"], input: ecr.encryption.kmsKey, params: { hint: "set encryption.type: KMS, or drop kmsKey" } });
    }
    if (ecr.tagMutability !== undefined) {
      const exclusions = ecr.tagMutabilityExclusions ?? [];
      const withExclusion = ecr.tagMutability.endsWith("_WITH_EXCLUSION");
      if (withExclusion && exclusions.length === 0) {
        ctx.addIssue({ code: "custom", message: `${ecr.tagMutability} needs tagMutabilityExclusions (tag filters like "latest" or "dev-*")`, path: ["tagMutabilityExclusions"], input: exclusions });
      }
      if (!withExclusion && exclusions.length > 0) {
        ctx.addIssue({ code: "custom", message: `tagMutabilityExclusions only apply with tagMutability ${ecr.tagMutability}_WITH_EXCLUSION`, path: ["tagMutabilityExclusions"], input: exclusions });
      }
    }
    // Tags and exclusion filters as CreateRepository checks them (src/ecr/settings.ts).
    for (const problem of checkRepositorySettings(ecr)) {
      ctx.addIssue({ code: "custom", message: problem.message, path: [...problem.path], input: ecr, params: { hint: problem.hint } });
    }
  })
  .transform(({ tagMutability, tagMutabilityExclusions, ...rest }) => ({
    ...rest,
    // Exclusions alone mean "immutable except these"; nothing at all means the default.
    tagMutability: tagMutability ?? (tagMutabilityExclusions?.length ? "IMMUTABLE_WITH_EXCLUSION" : DEFAULT_TAG_MUTABILITY.tagMutability),
    tagMutabilityExclusions: tagMutabilityExclusions ?? (tagMutability === undefined ? [...DEFAULT_TAG_MUTABILITY.tagMutabilityExclusions] : []),
  }));

export type EcrOptions = z.output<typeof ecrSchema>;

declare module "../spec/vendor.js" {
  interface VendorSettings {
    /** Amazon ECR repository settings (docs/ecr.md); ignored, with a warning, for other registries. */
    ecr: EcrOptions;
  }
  interface VendorSettingsInput {
    ecr: z.input<typeof ecrSchema>;
  }
}

export const ecrSpecVendor: SpecVendor = {
  key: "ecr",
  title: "Amazon ECR",
  settings: ecrSchema,
  claims: looksLikeEcrHost,
  checkRegistry(registry, host) {
    const ecr = checkEcrHost(host);
    if (ecr.kind === "invalid") return { problem: { message: `${JSON.stringify(registry)}: ${ecr.problem}`, hint: ecr.hint } };
    if (ecr.kind === "ecr" && ecr.ecr.public && !registry.includes("/")) {
      return {
        problem: {
          message: `${JSON.stringify(registry)}: ECR Public needs your registry alias after the host`,
          hint: "write public.ecr.aws/<alias>, e.g. public.ecr.aws/my-team",
        },
      };
    }
    return ecr.kind === "ecr" && ecr.warning !== undefined ? { warning: ecr.warning } : {};
  },
  // Some ecr settings apply to private registries only, catalogData to ECR Public only (./public.ts).
  checkSpec({ name, registry, settings }) {
    const location = parseRegistryLocation(registry);
    const ecr = checkEcrHost(location.host);
    if (ecr.kind !== "ecr") return [];
    const problems: { path: (string | number)[]; message: string; hint?: string }[] = [];
    const repository = ecr.ecr.public && location.prefix ? checkPublicRepository(`${location.prefix}/${name}`) : undefined;
    if (repository && "part" in repository) problems.push({ path: [repository.part === "alias" ? "registry" : "name"], message: repository.message, hint: repository.hint });
    for (const problem of checkSettingsForRegistry(settings as EcrOptions, ecr.ecr.public)) problems.push({ ...problem, path: ["ecr", ...problem.path] });
    return problems;
  },
};

registerSpecVendor(ecrSpecVendor);
