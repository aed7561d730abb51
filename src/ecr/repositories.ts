// ECR repositories on demand: before the first push to a repository, DescribeRepositories; when
// it is missing, CreateRepository with the spec's `ecr` settings; then the cross-account pull
// grant and the lifecycle policy, each written only when it differs. Once per repository per
// process. Settings come from a small table that the build fills per spec (`register`), since the
// registry's beforePush hook only sees a reference; repositories nobody registered get defaults.
import type { CreateRepositoryCommandInput } from "@aws-sdk/client-ecr";
import { isDeepStrictEqual } from "node:util";
import { parseReference, type Reference } from "../reference/index.js";
import { ecrSchema, type EcrOptions } from "../spec/schema.js";
import { EcrClients, loadEcrSdk, type EcrClientOptions } from "./client.js";
import { awsErrorName, EcrError, ecrApiError } from "./errors.js";
import { parseEcrHost, type EcrHost } from "./host.js";
import { lifecyclePolicyText, mergePullPolicy, sameDocument } from "./policy.js";
import { repositoryKey, validateEcrRepositoryName } from "./repository-name.js";
import { validateRepositorySettings } from "./settings.js";

/** The settings of a repository nobody registered: the schema's defaults. */
export const DEFAULT_ECR_OPTIONS: EcrOptions = ecrSchema.parse({});

/** One ECR API call, as made or (in a dry run) as it would be made. */
export interface EcrCall {
  readonly operation: string;
  readonly region: string;
  readonly input: Record<string, unknown>;
  /** False for a write skipped by a dry run. */
  readonly sent: boolean;
}

export interface EcrRepositoriesOptions extends EcrClientOptions {
  /** Share SDK clients with the credential source. */
  readonly clients?: EcrClients;
  /** Read for real, but only report the writes (CreateRepository, SetRepositoryPolicy, PutLifecyclePolicy). */
  readonly dryRun?: boolean;
  /** Every call, made or skipped. */
  readonly onCall?: (call: EcrCall) => void;
}

export interface EnsureResult {
  readonly host: string;
  readonly repository: string;
  /**
   * `created` now, `exists` already, `skipped` (not ECR, or ECR Public), `unchecked` (createRepository
   * false and DescribeRepositories denied: the push finds out).
   */
  readonly status: "created" | "exists" | "skipped" | "unchecked";
  /** The cross-account pull statement: written now, already as wanted, or not asked for. */
  readonly policy: "updated" | "unchanged" | "none";
  readonly lifecycle: "updated" | "unchanged" | "none";
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
    const host = this.privateHost(ref);
    if (!host) return { host: ref.registry, repository: ref.repository, status: "skipped", policy: "none", lifecycle: "none" };
    const name = validateEcrRepositoryName(ref.repository);
    const settings = this.settingsFor(ref);
    // Settings made in code skip the spec schema: check them here too, before the first call.
    validateRepositorySettings(settings);
    const status = await this.ensureExists(host, name, settings);
    const wouldBeCreated = status === "created" && this.options.dryRun === true;
    const policy = settings.allowPullFrom.length > 0 ? await this.applyGrant(host, name, settings.allowPullFrom, wouldBeCreated) : "none";
    const lifecycle = settings.lifecyclePolicy !== undefined ? await this.applyLifecycle(host, name, settings.lifecyclePolicy, wouldBeCreated) : "none";
    return { host: host.host, repository: name, status, policy, lifecycle };
  }

  private async ensureExists(host: EcrHost, name: string, settings: EcrOptions): Promise<"created" | "exists" | "unchecked"> {
    const client = await this.clients.forHost(host);
    const { CreateRepositoryCommand, DescribeRepositoriesCommand } = await loadEcrSdk();
    try {
      const answer = await this.call(host, "DescribeRepositories", { registryId: host.account, repositoryNames: [name] }, false, name, (input) => client.send(new DescribeRepositoriesCommand(input)));
      if (!answer?.repositories?.some((r) => r.repositoryName === name && (host.account === undefined || r.registryId === host.account))) {
        throw unexpectedAnswer(host, name, answer?.repositories?.map((r) => `${r.registryId ?? "?"}/${r.repositoryName ?? "?"}`) ?? []);
      }
      return "exists";
    } catch (error) {
      // Not managing the repository needs no repository permissions: a push-only CI role may not
      // describe it. The push itself then says whether the repository exists.
      if (!settings.createRepository && error instanceof EcrError && error.code === "ECR_ACCESS_DENIED") return "unchecked";
      if (awsErrorName((error as { cause?: unknown }).cause) !== "RepositoryNotFoundException") throw error;
    }
    if (!settings.createRepository) {
      throw new EcrError("ECR_REPOSITORY_NOT_FOUND", `ECR repository ${name} does not exist in account ${host.account} (${host.region}), and ecr.createRepository is false`, {
        hint: `create it: aws ecr create-repository --repository-name ${name} --region ${host.region}${host.account ? ` --registry-id ${host.account}` : ""} (or in the console: Amazon ECR > Private registry > Repositories > Create repository), or set ecr.createRepository: true`,
        operation: "DescribeRepositories",
      });
    }
    const input = createRepositoryInput(host, name, settings);
    try {
      await this.call(host, "CreateRepository", input, true, name, (i) => client.send(new CreateRepositoryCommand(i)));
    } catch (error) {
      // Another build created it between our two calls: that is what we wanted.
      if (awsErrorName((error as { cause?: unknown }).cause) === "RepositoryAlreadyExistsException") return "exists";
      throw error;
    }
    return "created";
  }

  private async applyGrant(host: EcrHost, name: string, principals: readonly string[], repositoryMayBeMissing: boolean): Promise<"updated" | "unchanged"> {
    const client = await this.clients.forHost(host);
    const { GetRepositoryPolicyCommand, SetRepositoryPolicyCommand } = await loadEcrSdk();
    let existing: string | undefined;
    try {
      const out = await this.call(host, "GetRepositoryPolicy", { registryId: host.account, repositoryName: name }, false, name, (i) => client.send(new GetRepositoryPolicyCommand(i)));
      existing = out?.policyText;
    } catch (error) {
      const cause = awsErrorName((error as { cause?: unknown }).cause);
      if (cause !== "RepositoryPolicyNotFoundException" && !(repositoryMayBeMissing && cause === "RepositoryNotFoundException")) throw error;
    }
    const merged = mergePullPolicy(existing, principals, host.partition);
    if (!merged.changed) return "unchanged";
    await this.call(host, "SetRepositoryPolicy", { registryId: host.account, repositoryName: name, policyText: merged.text }, true, name, (i) => client.send(new SetRepositoryPolicyCommand(i)));
    return "updated";
  }

  private async applyLifecycle(host: EcrHost, name: string, policy: unknown, repositoryMayBeMissing: boolean): Promise<"updated" | "unchanged"> {
    const client = await this.clients.forHost(host);
    const { GetLifecyclePolicyCommand, PutLifecyclePolicyCommand } = await loadEcrSdk();
    let existing: string | undefined;
    try {
      const out = await this.call(host, "GetLifecyclePolicy", { registryId: host.account, repositoryName: name }, false, name, (i) => client.send(new GetLifecyclePolicyCommand(i)));
      existing = out?.lifecyclePolicyText;
    } catch (error) {
      const cause = awsErrorName((error as { cause?: unknown }).cause);
      if (cause !== "LifecyclePolicyNotFoundException" && !(repositoryMayBeMissing && cause === "RepositoryNotFoundException")) throw error;
    }
    if (sameDocument(existing, policy)) return "unchanged";
    const text = lifecyclePolicyText(policy);
    await this.call(host, "PutLifecyclePolicy", { registryId: host.account, repositoryName: name, lifecyclePolicyText: text }, true, name, (i) => client.send(new PutLifecyclePolicyCommand(i)));
    return "updated";
  }

  /**
   * Makes (or, for a write in a dry run, only reports) one call. AWS errors become EcrErrors
   * naming the action, with the SDK's error as `cause` (its name tells NotFound cases apart).
   */
  private async call<I extends object, O>(host: EcrHost, operation: string, input: I, write: boolean, name: string, send: (input: I) => Promise<O>): Promise<O | undefined> {
    const skip = write && this.options.dryRun === true;
    this.options.onCall?.({ operation, region: host.region, input: { ...input } as Record<string, unknown>, sent: !skip });
    if (skip) return undefined;
    try {
      return await send(input);
    } catch (error) {
      throw ecrApiError(error, {
        operation,
        subject: `repository ${name} in ${host.account} (${host.region})`,
        ...(this.options.profile !== undefined ? { profile: this.options.profile } : {}),
      });
    }
  }
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
function unexpectedAnswer(host: EcrHost, name: string, named: readonly string[]): EcrError {
  return new EcrError(
    "ECR_UNEXPECTED_ANSWER",
    `DescribeRepositories for repository ${name} in ${host.account} (${host.region}) answered without that repository (it named ${named.length > 0 ? named.join(", ") : "none"}); not taken as "exists"`,
    {
      hint: "the ECR API endpoint is not answering for this registry: check AWS_ENDPOINT_URL_ECR / the profile's endpoint_url, and that the registry's account is the one the endpoint serves",
      operation: "DescribeRepositories",
    },
  );
}

function notPrivateEcr(ref: RepositoryRef): EcrError {
  return new EcrError("INVALID_ECR_HOST", `${ref.registry} is not a private Amazon ECR registry`, {
    hint: "repository policies apply to private registries: <account>.dkr.ecr.<region>.amazonaws.com/<repository>",
  });
}
