// `imagespec ecr login|ensure-repo|grant-pull`: Amazon ECR chores on their own, without a build.
// Thin: the work is in src/ecr (EcrSupport); this parses flags and prints.
import type { Command } from "commander";
import { ecrSchema, EcrError, EcrSupport, parseEcrHost, type EcrCall, type EnsureResult } from "../../ecr/index.js";
import { writeAuthFileEntry } from "../../registry/auth-file-write.js";
import { loadSpecs, type ImageSpec } from "../../spec/index.js";
import { reportError } from "../output.js";
import type { RegisterCommand } from "./index.js";

interface EcrFlags {
  awsProfile?: string;
  dryRun?: boolean;
  dockerConfig?: string;
}

export const registerEcrCommand: RegisterCommand = (program: Command) => {
  const ecr = program.command("ecr").description("Amazon ECR: log in, create repositories, grant cross-account pulls");

  ecr
    .command("login")
    .description("print the registry password for an ECR host (like `aws ecr get-login-password`), or write it to a docker config")
    .argument("<host>", "ECR registry host, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com, or public.ecr.aws (ECR Public)")
    .option("--docker-config <file>", "add an auths entry for HOST to this docker config.json (other entries are kept; 0600) instead of printing")
    .option("--aws-profile <name>", "AWS profile (default: the AWS SDK's choice, e.g. AWS_PROFILE)")
    .addHelpText("after", "\nExamples:\n  imagespec ecr login 123456789012.dkr.ecr.us-east-1.amazonaws.com | docker login --username AWS --password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  imagespec ecr login --docker-config ~/.docker/config.json 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  imagespec ecr login public.ecr.aws | docker login --username AWS --password-stdin public.ecr.aws")
    .action(async (host: string, flags: EcrFlags) => {
      process.exitCode = await withSupport(flags, async (support) => {
        const ecrHost = parseEcrHost(host);
        if (!ecrHost) throw new EcrError("INVALID_ECR_HOST", `${host} is not an Amazon ECR registry host`, { hint: "an ECR host looks like 123456789012.dkr.ecr.us-east-1.amazonaws.com, or public.ecr.aws for ECR Public" });
        const password = await support.credentials.password(ecrHost.host);
        if (flags.dockerConfig !== undefined) {
          await writeAuthFileEntry(flags.dockerConfig, ecrHost.host, "AWS", password);
          process.stderr.write(`wrote credentials for ${ecrHost.host} to ${flags.dockerConfig}\n`);
        } else {
          process.stdout.write(`${password}\n`);
        }
      });
    });

  ecr
    .command("ensure-repo")
    .description("create the ECR repository of each spec if it is missing, with the spec's ecr settings, pull grant and lifecycle policy (ECR Public: catalog data)")
    .argument("<spec-files...>", "spec files")
    .option("--dry-run", "print the API calls and policy documents that would be sent; only read calls are made")
    .option("--aws-profile <name>", "AWS profile (default: the AWS SDK's choice, e.g. AWS_PROFILE)")
    .addHelpText("after", "\nExamples:\n  imagespec ecr ensure-repo imagespec.yaml\n  imagespec ecr ensure-repo --dry-run --aws-profile ml-dev specs/*.yaml")
    .action(async (files: string[], flags: EcrFlags) => {
      process.exitCode = await withSupport(flags, async (support) => {
        const targets = await ecrTargets(files, { public: true });
        for (const { spec, repository } of targets) support.repositories.register(repository, spec.ecr);
        for (const { repository } of targets) printResult(await support.repositories.ensure(repository), flags.dryRun === true);
      });
    });

  ecr
    .command("grant-pull")
    .description("let other AWS accounts or IAM roles/users pull from the ECR repository of each spec (merged into the repository policy)")
    .argument("<spec-file>", "spec file")
    .argument("<principals...>", "12-digit account ids or IAM ARNs (arn:aws:iam::123456789012:role/name)")
    .option("--dry-run", "print the API calls and the policy document that would be sent; only read calls are made")
    .option("--aws-profile <name>", "AWS profile (default: the AWS SDK's choice, e.g. AWS_PROFILE)")
    .addHelpText("after", "\nExamples:\n  imagespec ecr grant-pull imagespec.yaml 210987654321\n  imagespec ecr grant-pull --dry-run imagespec.yaml arn:aws:iam::210987654321:role/flyte-worker")
    .action(async (file: string, principals: string[], flags: EcrFlags) => {
      process.exitCode = await withSupport(flags, async (support) => {
        const checked = ecrSchema.safeParse({ allowPullFrom: principals });
        if (!checked.success) {
          throw new EcrError("INVALID_PRINCIPAL", checked.error.issues.map((i) => i.message).join("; "), { hint: "write 123456789012 or arn:aws:iam::123456789012:role/name" });
        }
        for (const { repository } of await ecrTargets([file], { public: false })) {
          const outcome = await support.repositories.grantPull(repository, principals);
          process.stdout.write(`${repository}: pull grant ${flags.dryRun && outcome === "updated" ? "would be updated" : outcome}\n`);
        }
      });
    });
};

/** Runs a subcommand with ECR support (dry-run calls printed), reporting errors; returns the exit code. */
async function withSupport(flags: EcrFlags, body: (support: EcrSupport) => Promise<void>): Promise<number> {
  const support = new EcrSupport({
    ...(flags.awsProfile !== undefined ? { profile: flags.awsProfile } : {}),
    ...(flags.dryRun ? { dryRun: true, onCall: printCall } : {}),
  });
  try {
    await body(support);
    return 0;
  } catch (error) {
    return reportError(error);
  } finally {
    support.close();
  }
}

/** The ECR repositories of the specs in the files (specs without an ECR registry, or with ECR Public where it does not apply, are an error). */
async function ecrTargets(files: readonly string[], accept: { public: boolean }): Promise<{ spec: ImageSpec; repository: string }[]> {
  const targets: { spec: ImageSpec; repository: string }[] = [];
  for (const file of files) {
    for (const { key, spec } of await loadSpecs(file)) {
      const location = spec.registryLocation();
      const host = location ? parseEcrHost(location.host) : undefined;
      if (!location || !host || (host.public && !accept.public)) {
        throw new EcrError("INVALID_ECR_TARGET", `${file}: spec ${key} does not push to a ${accept.public ? "" : "private "}Amazon ECR registry (registry: ${spec.registry ?? "none"})`, {
          hint: host?.public ? "ECR Public repositories are pulled by anyone: there is nothing to grant" : `set registry to <account>.dkr.ecr.<region>.amazonaws.com[/path]${accept.public ? " or public.ecr.aws/<alias>" : ""}`,
        });
      }
      targets.push({ spec, repository: `${host.host}/${spec.repository()}` });
    }
  }
  return targets;
}

/** A dry run's call: operation, region, and its input as JSON (policy documents expanded). */
function printCall(call: EcrCall): void {
  const input: Record<string, unknown> = { ...call.input };
  for (const field of ["policyText", "lifecyclePolicyText"]) {
    if (typeof input[field] === "string") input[field] = JSON.parse(input[field]);
  }
  process.stdout.write(`${call.sent ? "" : "would call "}${call.service}:${call.operation} (${call.region}) ${JSON.stringify(input, null, 2)}\n`);
}

function printResult(result: EnsureResult, dryRun: boolean): void {
  const would = (status: string): string => (dryRun && (status === "created" || status === "updated") ? `would be ${status}` : status);
  const parts = [`repository ${would(result.status)}`];
  if (result.policy !== "none") parts.push(`pull grant ${would(result.policy)}`);
  if (result.lifecycle !== "none") parts.push(`lifecycle policy ${would(result.lifecycle)}`);
  if (result.catalogData !== undefined && result.catalogData !== "none") parts.push(`catalog data ${would(result.catalogData)}`);
  process.stdout.write(`${result.host}/${result.repository}: ${parts.join(", ")}\n`);
}
