// ECR repositories on demand: before the first push to a repository, DescribeRepositories; when
// it is missing, CreateRepository with the spec's `ecr` settings; then the cross-account pull
// grant and the lifecycle policy, each written only when it differs. Once per repository per
// process. Settings come from a small table that the build fills per spec (`register`), since the
// registry's beforePush hook only sees a reference; repositories nobody registered get defaults.
import type { CreateRepositoryCommandInput } from "@aws-sdk/client-ecr";
import { isDeepStrictEqual } from "node:util";
import { parseReference, type Reference } from "../reference/index.js";
import { ecrSchema, type EcrOptions } from "./spec-vendor.js";
import { ECR_PUBLIC_API_REGION, EcrClients, loadEcrPublicSdk, loadEcrSdk, type EcrClientOptions } from "./client.js";
import { awsErrorName, EcrError, ecrApiError } from "./errors.js";
import { parseEcrHost, type EcrHost } from "./host.js";
import { lifecyclePolicyText, mergePullPolicy, sameDocument } from "./policy.js";
import { catalogDataInput, catalogDataMatches, publicRepositoryOf, validateSettingsForRegistry, type CatalogData } from "./public.js";
import { repositoryKey, validateEcrRepositoryName } from "./repository-name.js";
import { validateRepositorySettings } from "./settings.js";

/** The settings of a repository nobody registered: the schema's defaults. */
export const DEFAULT_ECR_OPTIONS: EcrOptions = ecrSchema.parse({});

/** One ECR API call, as made or (in a dry run) as it would be made. */
export interface EcrCall {
  /** The IAM service prefix: `ecr`, or `ecr-public` for ECR Public. */
  readonly service: "ecr" | "ecr-public";
  readonly operation: string;
  readonly region: string;
  readonly input: Record<string, unknown>;
  /** False for a write skipped by a dry run. */
  readonly sent: boolean;
}

export interface EcrRepositoriesOptions extends EcrClientOptions {
  /** Share SDK clients with the credential source. */
  readonly clients?: EcrClients;
  /** Read for real, but only report the writes (CreateRepository, SetRepositoryPolicy, PutLifecyclePolicy, PutRepositoryCatalogData). */
  readonly dryRun?: boolean;
  /** Every call, made or skipped. */
  readonly onCall?: (call: EcrCall) => void;
}

export interface EnsureResult {
  readonly host: string;
  readonly repository: string;
  /**
   * `created` now, `exists` already, `skipped` (not ECR), `unchecked` (createRepository false and
   * DescribeRepositories denied: the push finds out).
   */
  readonly status: "created" | "exists" | "skipped" | "unchecked";
  /** The cross-account pull statement: written now, already as wanted, or not asked for. */
  readonly policy: "updated" | "unchanged" | "none";
  readonly lifecycle: "updated" | "unchanged" | "none";
  /** ECR Public: the spec's catalog data, written now, already as wanted, or not asked for. */
  readonly catalogData?: "updated" | "unchanged" | "none";
}

/** Where a call goes, for dry-run records and error messages. */
interface CallTarget {
  readonly service: "ecr" | "ecr-public";
  readonly region: string;
  /** `repository team/app in 111111111111 (us-east-1)`. */
  readonly subject: string;
}

type RepositoryRef = Pick<Reference, "registry" | "repository">;

function toRef(ref: RepositoryRef | string): RepositoryRef {
  if (typeof ref !== "string") return ref;
  // `host/repo` or a full reference: the repository part is what matters.
  return parseReference(ref.includes(":") || ref.includes("@") ? ref : `${ref}:latest`);
}

export class EcrRepositories {
  readonly clients: EcrClients;
  private readonly ownsClients: boolean;
  private readonly settings = new Map<string, EcrOptions>();
  private readonly ensured = new Map<string, Promise<EnsureResult>>();
  /** ECR Public: the caller's registry id per alias, from DescribeRegistries (once per process). */
  private readonly publicRegistries = new Map<string, Promise<string>>();

  constructor(private readonly options: EcrRepositoriesOptions = {}) {
    this.ownsClients = options.clients === undefined;
    this.clients = options.clients ?? new EcrClients(options);
  }

  /** Records the settings for a repository (`host/path/name`, or a reference). Two different settings for one repository are an error. */
  register(ref: RepositoryRef | string, options: EcrOptions): void {
    const key = repositoryKey(toRef(ref));
    const known = this.settings.get(key);
    if (known && !isDeepStrictEqual(known, options)) {
      throw new EcrError("INVALID_ECR_SETTINGS", `two specs push to ${key} with different ecr settings`, { hint: "give the specs the same ecr block, or push them to different repositories" });
    }
    this.settings.set(key, options);
  }

  settingsFor(ref: RepositoryRef | string): EcrOptions {
    return this.settings.get(repositoryKey(toRef(ref))) ?? DEFAULT_ECR_OPTIONS;
  }

  /** The registry's beforePush hook: ensures the repository of an ECR reference. */
  readonly beforePush = async (ref: Reference): Promise<void> => {
    await this.ensure(ref);
  };

  /** Makes the repository exist with its settings, grant and lifecycle; once per process (a failure is retried next time). */
  ensure(ref: RepositoryRef | string): Promise<EnsureResult> {
    const repo = toRef(ref);
    const key = repositoryKey(repo);
    let pending = this.ensured.get(key);
    if (!pending) {
      pending = this.ensureOnce(repo);
      this.ensured.set(key, pending);
      pending.catch(() => this.ensured.delete(key));
    }
    return pending;
  }

  /** Merges a pull grant for these principals (account ids or IAM ARNs) into the repository's policy. */
  async grantPull(ref: RepositoryRef | string, principals: readonly string[], options: { repositoryMayBeMissing?: boolean } = {}): Promise<"updated" | "unchanged"> {
    const repo = toRef(ref);
    const host = this.privateHost(repo);
    if (!host) throw notPrivateEcr(repo);
    return this.applyGrant(host, validateEcrRepositoryName(repo.repository), principals, options.repositoryMayBeMissing ?? false);
  }

  close(): void {
    if (this.ownsClients) this.clients.destroy();
  }

  private privateHost(ref: RepositoryRef): EcrHost | undefined {
    const host = parseEcrHost(ref.registry);
    return host && !host.public ? host : undefined;
  }

  private async ensureOnce(ref: RepositoryRef): Promise<EnsureResult> {
    const publicHost = parseEcrHost(ref.registry);
    if (publicHost?.public) return this.ensurePublic(publicHost, ref);
    const host = this.privateHost(ref);
    if (!host) return { host: ref.registry, repository: ref.repository, status: "skipped", policy: "none", lifecycle: "none" };
    const name = validateEcrRepositoryName(ref.repository);
    const settings = this.settingsFor(ref);
    // Settings made in code skip the spec schema: check them here too, before the first call.
    validateRepositorySettings(settings);
    validateSettingsForRegistry(settings, false);
    const status = await this.ensureExists(host, name, settings);
    const wouldBeCreated = status === "created" && this.options.dryRun === true;
    const policy = settings.allowPullFrom.length > 0 ? await this.applyGrant(host, name, settings.allowPullFrom, wouldBeCreated) : "none";
    const lifecycle = settings.lifecyclePolicy !== undefined ? await this.applyLifecycle(host, name, settings.lifecyclePolicy, wouldBeCreated) : "none";
    return { host: host.host, repository: name, status, policy, lifecycle };
  }

  private async ensureExists(host: EcrHost, name: string, settings: EcrOptions): Promise<"created" | "exists" | "unchecked"> {
    const client = await this.clients.forHost(host);
    const { CreateRepositoryCommand, DescribeRepositoriesCommand } = await loadEcrSdk();
    const target = privateTarget(host, name);
    return this.describeOrCreate(settings, {
      describe: async () => {
        const answer = await this.call(target, "DescribeRepositories", { registryId: host.account, repositoryNames: [name] }, false, (input) => client.send(new DescribeRepositoriesCommand(input)));
        if (!answer?.repositories?.some((r) => r.repositoryName === name && (host.account === undefined || r.registryId === host.account))) {
          throw unexpectedAnswer(`repository ${name} in ${host.account} (${host.region})`, answer?.repositories?.map((r) => `${r.registryId ?? "?"}/${r.repositoryName ?? "?"}`) ?? []);
        }
      },
      missing: () =>
        new EcrError("ECR_REPOSITORY_NOT_FOUND", `ECR repository ${name} does not exist in account ${host.account} (${host.region}), and ecr.createRepository is false`, {
          hint: `create it: aws ecr create-repository --repository-name ${name} --region ${host.region}${host.account ? ` --registry-id ${host.account}` : ""} (or in the console: Amazon ECR > Private registry > Repositories > Create repository), or set ecr.createRepository: true`,
          operation: "DescribeRepositories",
        }),
      create: () => this.call(target, "CreateRepository", createRepositoryInput(host, name, settings), true, (i) => client.send(new CreateRepositoryCommand(i))),
    });
  }

  /**
   * DescribeRepositories; when the repository is missing, CreateRepository (or, with createRepository
   * false, the `missing` error). Only RepositoryNotFoundException means missing.
   */
  private async describeOrCreate(
    settings: EcrOptions,
    calls: { describe: () => Promise<void>; missing: () => EcrError; create: () => Promise<unknown> },
  ): Promise<"created" | "exists" | "unchecked"> {
    try {
      await calls.describe();
      return "exists";
    } catch (error) {
      // Not managing the repository needs no repository permissions: a push-only CI role may not
      // describe it. The push itself then says whether the repository exists.
      if (!settings.createRepository && error instanceof EcrError && error.code === "ECR_ACCESS_DENIED") return "unchecked";
      if (awsErrorName((error as { cause?: unknown }).cause) !== "RepositoryNotFoundException") throw error;
    }
    if (!settings.createRepository) throw calls.missing();
    try {
      await calls.create();
    } catch (error) {
      // Another build created it between our two calls: that is what we wanted.
      if (awsErrorName((error as { cause?: unknown }).cause) === "RepositoryAlreadyExistsException") return "exists";
      throw error;
    }
    return "created";
  }

  /**
   * ECR Public (`public.ecr.aws/<alias>/<repository>`): the alias must be one of the caller's
   * registry (DescribeRegistries), then the repository is described or created with the spec's
   * catalog data and tags, and an existing repository's catalog data is updated where it differs.
   */
  private async ensurePublic(host: EcrHost, ref: RepositoryRef): Promise<EnsureResult> {
    const { alias, repository: name } = publicRepositoryOf(ref.repository);
    const settings = this.settingsFor(ref);
    validateRepositorySettings(settings);
    validateSettingsForRegistry(settings, true);
    const client = await this.clients.forPublic(host);
    const sdk = await loadEcrPublicSdk();
    const target: CallTarget = { service: "ecr-public", region: ECR_PUBLIC_API_REGION, subject: `repository ${name} in ECR Public registry ${alias}` };
    const registryId = await this.publicRegistryOf(alias, target, () => client.send(new sdk.DescribeRegistriesCommand({})));
    const catalogData = settings.catalogData;
    const tags = Object.entries(settings.tags).map(([Key, Value]) => ({ Key, Value }));
    const status = await this.describeOrCreate(settings, {
      describe: async () => {
        const answer = await this.call(target, "DescribeRepositories", { registryId, repositoryNames: [name] }, false, (i) => client.send(new sdk.DescribeRepositoriesCommand(i)));
        if (!answer?.repositories?.some((r) => r.repositoryName === name && r.registryId === registryId)) {
          throw unexpectedAnswer(target.subject, answer?.repositories?.map((r) => `${r.registryId ?? "?"}/${r.repositoryName ?? "?"}`) ?? []);
        }
      },
      missing: () =>
        new EcrError("ECR_REPOSITORY_NOT_FOUND", `ECR Public repository ${name} does not exist in registry ${alias}, and ecr.createRepository is false`, {
          hint: `create it: aws ecr-public create-repository --repository-name ${name} --region us-east-1 (or in the console: Amazon ECR > Public registry > Repositories > Create repository), or set ecr.createRepository: true`,
          operation: "DescribeRepositories",
        }),
      create: () =>
        this.call(
          target,
          "CreateRepository",
          { repositoryName: name, ...(catalogData ? { catalogData: catalogDataInput(catalogData) } : {}), ...(tags.length > 0 ? { tags } : {}) },
          true,
          (i) => client.send(new sdk.CreateRepositoryCommand(i)),
        ),
    });
    const catalog = catalogData === undefined ? "none" : status === "created" ? "updated" : await this.applyCatalogData(target, registryId, name, catalogData, client, sdk);
    return { host: host.host, repository: `${alias}/${name}`, status, policy: "none", lifecycle: "none", catalogData: catalog };
  }

  /** The caller's ECR Public registry id, when `alias` is one of its aliases; else an error naming the caller's aliases. */
  private publicRegistryOf(alias: string, target: CallTarget, describe: () => Promise<{ registries?: { registryId?: string; aliases?: { name?: string }[] }[] }>): Promise<string> {
    let pending = this.publicRegistries.get(alias);
    if (!pending) {
      pending = (async () => {
        const answer = await this.call(target, "DescribeRegistries", {}, false, describe);
        const registries = answer?.registries ?? [];
        const owner = registries.find((r) => r.aliases?.some((a) => a.name === alias));
        if (owner?.registryId === undefined) {
          const yours = registries.flatMap((r) => r.aliases?.map((a) => a.name ?? "?") ?? []);
          throw new EcrError("ECR_PUBLIC_ALIAS_NOT_YOURS", `public.ecr.aws/${alias} is not your ECR Public registry: the AWS identity's registry has the alias${yours.length === 1 ? "" : "es"} ${yours.length > 0 ? yours.join(", ") : "(none)"}`, {
            hint: yours.length > 0 ? `write registry: public.ecr.aws/${yours[0]}, or use the AWS credentials of the account that owns ${alias}` : "create your public registry's alias in the ECR console (Public registry > Settings), or use the AWS credentials of the account that owns it",
            operation: "DescribeRegistries",
          });
        }
        return owner.registryId;
      })();
      this.publicRegistries.set(alias, pending);
      pending.catch(() => this.publicRegistries.delete(alias));
    }
    return pending;
  }

  /** GetRepositoryCatalogData, and PutRepositoryCatalogData with the spec's fields over the current ones when they differ. */
  private async applyCatalogData(
    target: CallTarget,
    registryId: string,
    name: string,
    wanted: CatalogData,
    client: Awaited<ReturnType<EcrClients["forPublic"]>>,
    sdk: Awaited<ReturnType<typeof loadEcrPublicSdk>>,
  ): Promise<"updated" | "unchanged"> {
    let current: Record<string, unknown> | undefined;
    try {
      const answer = await this.call(target, "GetRepositoryCatalogData", { registryId, repositoryName: name }, false, (i) => client.send(new sdk.GetRepositoryCatalogDataCommand(i)));
      current = answer?.catalogData as Record<string, unknown> | undefined;
    } catch (error) {
      // A repository that never had catalog data.
      if (awsErrorName((error as { cause?: unknown }).cause) !== "RepositoryCatalogDataNotFoundException") throw error;
    }
    if (catalogDataMatches(current, wanted)) return "unchanged";
    // The call replaces the catalog data: the fields the spec does not set are sent as they are.
    const kept = Object.fromEntries(["description", "aboutText", "usageText", "architectures", "operatingSystems"].filter((k) => current?.[k] !== undefined).map((k) => [k, current![k]]));
    const catalogData = { ...kept, ...catalogDataInput(wanted) };
    await this.call(target, "PutRepositoryCatalogData", { registryId, repositoryName: name, catalogData }, true, (i) => client.send(new sdk.PutRepositoryCatalogDataCommand(i)));
    return "updated";
  }

  private async applyGrant(host: EcrHost, name: string, principals: readonly string[], repositoryMayBeMissing: boolean): Promise<"updated" | "unchanged"> {
    const client = await this.clients.forHost(host);
    const { GetRepositoryPolicyCommand, SetRepositoryPolicyCommand } = await loadEcrSdk();
    let existing: string | undefined;
    try {
      const out = await this.call(privateTarget(host, name), "GetRepositoryPolicy", { registryId: host.account, repositoryName: name }, false, (i) => client.send(new GetRepositoryPolicyCommand(i)));
      existing = out?.policyText;
    } catch (error) {
      const cause = awsErrorName((error as { cause?: unknown }).cause);
      if (cause !== "RepositoryPolicyNotFoundException" && !(repositoryMayBeMissing && cause === "RepositoryNotFoundException")) throw error;
    }
    const merged = mergePullPolicy(existing, principals, host.partition);
    if (!merged.changed) return "unchanged";
    await this.call(privateTarget(host, name), "SetRepositoryPolicy", { registryId: host.account, repositoryName: name, policyText: merged.text }, true, (i) => client.send(new SetRepositoryPolicyCommand(i)));
    return "updated";
  }

  private async applyLifecycle(host: EcrHost, name: string, policy: unknown, repositoryMayBeMissing: boolean): Promise<"updated" | "unchanged"> {
    const client = await this.clients.forHost(host);
    const { GetLifecyclePolicyCommand, PutLifecyclePolicyCommand } = await loadEcrSdk();
    let existing: string | undefined;
    try {
      const out = await this.call(privateTarget(host, name), "GetLifecyclePolicy", { registryId: host.account, repositoryName: name }, false, (i) => client.send(new GetLifecyclePolicyCommand(i)));
      existing = out?.lifecyclePolicyText;
    } catch (error) {
      const cause = awsErrorName((error as { cause?: unknown }).cause);
      if (cause !== "LifecyclePolicyNotFoundException" && !(repositoryMayBeMissing && cause === "RepositoryNotFoundException")) throw error;
    }
    if (sameDocument(existing, policy)) return "unchanged";
    const text = lifecyclePolicyText(policy);
    await this.call(privateTarget(host, name), "PutLifecyclePolicy", { registryId: host.account, repositoryName: name, lifecyclePolicyText: text }, true, (i) => client.send(new PutLifecyclePolicyCommand(i)));
    return "updated";
  }

  /**
   * Makes (or, for a write in a dry run, only reports) one call. AWS errors become EcrErrors
   * naming the action, with the SDK's error as `cause` (its name tells NotFound cases apart).
   */
  private async call<I extends object, O>(target: CallTarget, operation: string, input: I, write: boolean, send: (input: I) => Promise<O>): Promise<O | undefined> {
    const skip = write && this.options.dryRun === true;
    this.options.onCall?.({ service: target.service, operation, region: target.region, input: { ...input } as Record<string, unknown>, sent: !skip });
    if (skip) return undefined;
    try {
      return await send(input);
    } catch (error) {
      throw ecrApiError(error, {
        operation,
        service: target.service,
        subject: target.subject,
        ...(this.options.profile !== undefined ? { profile: this.options.profile } : {}),
      });
    }
  }
}

function privateTarget(host: EcrHost, name: string): CallTarget {
  return { service: "ecr", region: host.region, subject: `repository ${name} in ${host.account} (${host.region})` };
}

/** The CreateRepository request for a repository with these settings. */
export function createRepositoryInput(host: Pick<EcrHost, "account">, name: string, settings: EcrOptions): CreateRepositoryCommandInput {
  const withExclusion = settings.tagMutability.endsWith("_WITH_EXCLUSION");
  const tags = Object.entries(settings.tags).map(([Key, Value]) => ({ Key, Value }));
  return {
    ...(host.account !== undefined ? { registryId: host.account } : {}),
    repositoryName: name,
    imageTagMutability: settings.tagMutability,
    ...(withExclusion ? { imageTagMutabilityExclusionFilters: settings.tagMutabilityExclusions.map((filter) => ({ filterType: "WILDCARD" as const, filter })) } : {}),
    imageScanningConfiguration: { scanOnPush: settings.scanOnPush },
    encryptionConfiguration: {
      encryptionType: settings.encryption.type,
      ...(settings.encryption.kmsKey !== undefined ? { kmsKey: settings.encryption.kmsKey } : {}),
    },
    ...(tags.length > 0 ? { tags } : {}),
  };
}

/** A DescribeRepositories answer without the repository asked for: neither "exists" nor "missing". */
function unexpectedAnswer(subject: string, named: readonly string[]): EcrError {
  return new EcrError(
    "ECR_UNEXPECTED_ANSWER",
    `DescribeRepositories for ${subject} answered without that repository (it named ${named.length > 0 ? named.join(", ") : "none"}); not taken as "exists"`,
    {
      hint: "the ECR API endpoint is not answering for this registry: check AWS_ENDPOINT_URL_ECR (ECR Public: AWS_ENDPOINT_URL_ECR_PUBLIC) / the profile's endpoint_url, and that the registry's account is the one the endpoint serves",
      operation: "DescribeRepositories",
    },
  );
}

function notPrivateEcr(ref: RepositoryRef): EcrError {
  return new EcrError("INVALID_ECR_HOST", `${ref.registry} is not a private Amazon ECR registry`, {
    hint: "repository policies apply to private registries: <account>.dkr.ecr.<region>.amazonaws.com/<repository>",
  });
}
