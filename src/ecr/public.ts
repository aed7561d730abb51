// ECR Public (`public.ecr.aws/<alias>/<repository>`): which registry alias and repository a
// reference names, and the spec's `ecr.catalogData` as ECR Public's CreateRepository and
// PutRepositoryCatalogData check it (RepositoryCatalogDataInput in AWS's ECR Public API reference).
// The ECR spec vendor (./spec-vendor.ts) builds the `ecr` schema from this file, so it imports only zod and errors.
import { z } from "zod";
import { EcrError } from "./errors.js";

/** What the Public Gallery shows as badges and search filters; other values are kept but not shown. */
export const GALLERY_ARCHITECTURES = ["ARM", "ARM 64", "x86", "x86-64"] as const;
export const GALLERY_OPERATING_SYSTEMS = ["Linux", "Windows"] as const;

const galleryList = (shown: readonly string[], what: string) =>
  z
    .array(z.string().min(1, `each ${what} is 1 to 50 characters`).max(50, `each ${what} is 1 to 50 characters`))
    .max(50, `at most 50 ${what}s`)
    .superRefine((values, ctx) => {
      values.forEach((value, index) => {
        if (!shown.includes(value)) {
          ctx.addIssue({
            code: "custom",
            path: [index],
            input: value,
            message: `${JSON.stringify(value)} is not one the ECR Public Gallery shows (${shown.map((s) => JSON.stringify(s)).join(", ")})`,
            params: { hint: `write one of ${shown.join(", ")}` },
          });
        }
      });
    });

/** `ecr.catalogData`: what the ECR Public Gallery shows for a repository (ECR Public only). */
export const catalogDataSchema = z.strictObject({
  /** Short description: search results and the image details. At most 1024 characters. */
  description: z.string().max(1024, "description is at most 1024 characters").optional(),
  /** Markdown shown as "About". At most 25600 characters. */
  aboutText: z.string().max(25600, "aboutText is at most 25600 characters").optional(),
  /** Markdown shown as "Usage". At most 25600 characters. */
  usageText: z.string().max(25600, "usageText is at most 25600 characters").optional(),
  architectures: galleryList(GALLERY_ARCHITECTURES, "architecture").optional(),
  operatingSystems: galleryList(GALLERY_OPERATING_SYSTEMS, "operating system").optional(),
});

export type CatalogData = z.output<typeof catalogDataSchema>;

/** ECR Public repository names: 2 to 205 characters (private ones: 256). */
const PUBLIC_NAME_MAX = 205;
const NAME = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
/** Registry aliases: 2 to 50 lower-case letters, digits, and single `-`/`_` between them. */
const ALIAS = /^[a-z0-9]+(?:[-_][a-z0-9]+)*$/;

/** Why `alias/path/name` cannot be an ECR Public repository: the alias or the repository part at fault. */
export interface PublicRepositoryProblem {
  readonly part: "alias" | "repository";
  readonly message: string;
  readonly hint: string;
}

/** `alias/path/name` (the reference's repository on public.ecr.aws) -> the alias and the repository in that registry, or what is wrong. */
export function checkPublicRepository(path: string): { alias: string; repository: string } | PublicRepositoryProblem {
  const slash = path.indexOf("/");
  const alias = slash < 0 ? path : path.slice(0, slash);
  const repository = slash < 0 ? "" : path.slice(slash + 1);
  if (!ALIAS.test(alias) || alias.length < 2 || alias.length > 50) {
    return {
      part: "alias",
      message: `${JSON.stringify(alias)} is not an ECR Public registry alias (2 to 50 lower-case letters, digits, '-' or '_')`,
      hint: "write the registry as public.ecr.aws/<your alias>; the ECR console shows it under Public registry > Settings",
    };
  }
  if (repository.length < 2 || repository.length > PUBLIC_NAME_MAX || !NAME.test(repository)) {
    return {
      part: "repository",
      message: `${JSON.stringify(repository)} (after the alias ${alias}) is not a valid ECR Public repository name: 2 to ${PUBLIC_NAME_MAX} characters of lower-case letters and digits, separated by single '.', '_' or '-' and '/' between components`,
      hint: "rename the image, e.g. name: my-app with registry: public.ecr.aws/<alias>",
    };
  }
  return { alias, repository };
}

/** checkPublicRepository, throwing EcrError INVALID_ECR_REPOSITORY_NAME for a problem. */
export function publicRepositoryOf(path: string): { alias: string; repository: string } {
  const checked = checkPublicRepository(path);
  if ("part" in checked) throw new EcrError("INVALID_ECR_REPOSITORY_NAME", checked.message, { hint: checked.hint });
  return checked;
}

/** The catalog data as the API takes it (RepositoryCatalogDataInput). */
export function catalogDataInput(data: CatalogData): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).filter(([, value]) => value !== undefined));
}

/**
 * Whether the repository's catalog data (GetRepositoryCatalogData) already says what the spec
 * says: only the fields the spec sets are compared, so fields set in the console stay.
 */
export function catalogDataMatches(current: Record<string, unknown> | undefined, wanted: CatalogData): boolean {
  return Object.entries(catalogDataInput(wanted)).every(([key, value]) => JSON.stringify(current?.[key]) === JSON.stringify(value));
}

/** The `ecr` settings that apply to one kind of registry only, as spec problems (path under `ecr`). */
export function checkSettingsForRegistry(
  settings: {
    readonly allowPullFrom?: readonly string[];
    readonly lifecyclePolicy?: unknown;
    readonly catalogData?: unknown;
    readonly scanOnPush?: boolean;
    readonly encryption?: { readonly type?: string };
  },
  isPublic: boolean,
): { path: string[]; message: string; hint: string }[] {
  const problems: { path: string[]; message: string; hint: string }[] = [];
  if (isPublic) {
    if ((settings.allowPullFrom?.length ?? 0) > 0) {
      problems.push({ path: ["allowPullFrom"], message: "ECR Public repositories are pulled by anyone; allowPullFrom applies to private registries", hint: "drop allowPullFrom, or push to a private registry (<account>.dkr.ecr.<region>.amazonaws.com)" });
    }
    if (settings.lifecyclePolicy !== undefined) {
      problems.push({ path: ["lifecyclePolicy"], message: "ECR Public has no lifecycle policies", hint: "drop lifecyclePolicy; delete old images with aws ecr-public batch-delete-image" });
    }
    if (settings.scanOnPush === true) {
      problems.push({ path: ["scanOnPush"], message: "ECR Public does not scan images", hint: "drop scanOnPush, or push to a private registry" });
    }
    if (settings.encryption?.type !== undefined && settings.encryption.type !== "AES256") {
      problems.push({ path: ["encryption"], message: `ECR Public stores images with AWS's own encryption; ${settings.encryption.type} cannot be chosen`, hint: "drop encryption, or push to a private registry" });
    }
  } else if (settings.catalogData !== undefined) {
    problems.push({ path: ["catalogData"], message: "catalogData is shown by the ECR Public Gallery and applies to public.ecr.aws registries only", hint: "drop catalogData, or set registry: public.ecr.aws/<alias>" });
  }
  return problems;
}

/** Throws the first problem of checkSettingsForRegistry as an EcrError (settings made in code skip the spec schema). */
export function validateSettingsForRegistry(settings: Parameters<typeof checkSettingsForRegistry>[0], isPublic: boolean): void {
  const [problem] = checkSettingsForRegistry(settings, isPublic);
  if (problem) throw new EcrError("INVALID_ECR_SETTINGS", `ecr.${problem.path.join(".")}: ${problem.message}`, { hint: problem.hint });
}
