// The ECR control-plane API as AWS serves it: AWS JSON 1.1 over POST / with
// `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`, SigV4-signed. Answers use ECR's
// response shapes (timestamps as epoch seconds) and its error shapes (HTTP 400, `x-amzn-ErrorType`,
// body `{"__type","message"}`), so the real AWS SDK parses them into its modelled exceptions.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { checkLifecyclePolicyText, LifecycleRefusal } from "./lifecycle.js";
import { parsePolicy, policyAllows, storedPolicyText } from "./policy.js";
import { createPublicOperations, PUBLIC_API_REGION, PUBLIC_TARGET_PREFIX } from "./public-api.js";
import { verifySigV4 } from "./sigv4.js";
import type { EmulatorAccount, ExclusionFilter, RepositoryRecord, State, TagMutability } from "./state.js";

const TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921.";
const MAX_BODY = 1024 * 1024;
export const REPOSITORY_NAME_PATTERN = "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*";
const REPOSITORY_NAME_RE = new RegExp(`^${REPOSITORY_NAME_PATTERN}$`);
const MUTABILITIES: readonly TagMutability[] = ["MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"];

/** An AWS error answer: thrown inside operations, written by the handler. */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
    /** AWS's front door (authentication) names its errors with a namespace: `com.amazon.coral.service#UnrecognizedClientException`. */
    readonly namespace?: string,
  ) {
    super(message);
  }
}

/** The namespace of errors raised before the request reaches ECR (signature, credentials). */
const CORAL = "com.amazon.coral.service";

export interface ApiDeps {
  state: State;
  /** Whether the registry holds tagged or untagged images for the repository. */
  hasImages(accountId: string, name: string): boolean;
  /** Removes the repository's content from the registry storage (DeleteRepository with force). */
  removeImages(accountId: string, name: string): Promise<void>;
}

export type Input = Record<string, unknown>;
export type Operation = (caller: EmulatorAccount, input: Input) => Promise<unknown> | unknown;

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/x-amz-json-1.1",
    "Content-Length": Buffer.byteLength(text),
    "x-amzn-RequestId": randomUUID(),
    ...extra,
  });
  res.end(text);
}

function sendError(res: ServerResponse, e: AwsError): void {
  const type = e.namespace ? `${e.namespace}#${e.type}` : e.type;
  sendJson(res, e.status, { __type: type, message: e.message }, { "x-amzn-ErrorType": e.namespace ? `${e.type}:http://internal.amazon.com/coral/${e.namespace}/` : e.type });
}

export const epochSeconds = (d: Date) => d.getTime() / 1000;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new AwsError("SerializationException", "Request body too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export function str(input: Input, field: string, required: true): string;
export function str(input: Input, field: string, required?: false): string | undefined;
export function str(input: Input, field: string, required = false): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) {
    if (required) {
      throw new AwsError("InvalidParameterException", `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
    }
    return undefined;
  }
  if (typeof v !== "string") throw new AwsError("SerializationException", `Start of structure or map found where not expected at '${field}'`);
  return v;
}

/** AWS's length constraint on a string member: `Member must have length less than or equal to N`. */
export function lengthBetween(field: string, value: string, min: number, max: number): void {
  if (value.length < min || value.length > max) {
    const bound = value.length < min ? `greater than or equal to ${min}` : `less than or equal to ${max}`;
    throw new AwsError("InvalidParameterException", `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length ${bound}`);
  }
}

/** GetAuthorizationToken's registryIds: 1 to 10 account ids of 12 digits. */
function registryIdList(value: unknown): string[] {
  if (!Array.isArray(value)) throw new AwsError("SerializationException", "Start of list found where not expected at 'registryIds'");
  if (value.length < 1 || value.length > 10) {
    throw new AwsError("InvalidParameterException", "1 validation error detected: Value at 'registryIds' failed to satisfy constraint: Member must have length between 1 and 10");
  }
  for (const id of value) {
    if (typeof id !== "string" || !/^[0-9]{12}$/.test(id)) {
      throw new AwsError("InvalidParameterException", "1 validation error detected: Value at 'registryIds' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]{12}]");
    }
  }
  return value as string[];
}

// AWS resource tags: at most 50, keys 1-128 and values 0-256 characters of letters, digits, spaces
// and _ . : / = + - @, and no key in the reserved aws: namespace.
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

export function parseTags(value: unknown): { Key: string; Value: string }[] {
  const list = Array.isArray(value) ? (value as unknown[]) : [];
  if (list.length > 50) throw new AwsError("TooManyTagsException", "Tags can not have more than 50 elements");
  return list.map((t) => {
    const o = (t ?? {}) as { Key?: unknown; Value?: unknown };
    const key = o.Key;
    const tagValue = o.Value ?? "";
    if (typeof key !== "string" || key.length < 1 || key.length > 128 || !TAG_TEXT.test(key)) {
      throw new AwsError("InvalidTagParameterException", "Invalid parameter at 'tags' failed to satisfy constraint: 'Tag keys must be between 1 and 128 characters and match ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$'");
    }
    if (key.toLowerCase().startsWith("aws:")) throw new AwsError("InvalidTagParameterException", "Invalid parameter at 'tags' failed to satisfy constraint: 'Tag keys starting with aws: are reserved for AWS use'");
    if (typeof tagValue !== "string" || tagValue.length > 256 || !TAG_TEXT.test(tagValue)) {
      throw new AwsError("InvalidTagParameterException", "Invalid parameter at 'tags' failed to satisfy constraint: 'Tag values must be at most 256 characters and match ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$'");
    }
    return { Key: key, Value: tagValue };
  });
}

/**
 * SetRepositoryPolicy's document check (ECR and ECR Public): at most 10240 characters, no Resource
 * (the repository is the resource), and only IAM roles and users that exist (also not for a few
 * seconds after they were created). Returns the text as stored.
 */
export function checkedPolicyText(state: State, text: string): string {
  lengthBetween("policyText", text, 0, 10240);
  const statements = parsePolicy(text);
  if (!statements || statements.some((st) => "Resource" in st || "NotResource" in st)) {
    throw new AwsError("InvalidParameterException", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'");
  }
  for (const st of statements) {
    for (const principal of awsPrincipalEntries(st.Principal)) {
      if (!state.principalExists(principal)) throw new AwsError("InvalidParameterException", "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found'");
    }
  }
  return storedPolicyText(text);
}

/** The `AWS` principals of a statement (`"*"`, an account id, an ARN), each as written. */
function awsPrincipalEntries(principal: unknown): unknown[] {
  if (typeof principal !== "object" || principal === null) return [];
  const aws = (principal as { AWS?: unknown }).AWS;
  return Array.isArray(aws) ? aws : aws === undefined ? [] : [aws];
}

export function repositoryNameProblem(name: string): string | undefined {
  if (name.length < 2) return "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'Member must have length greater than or equal to 2'";
  if (name.length > 256) return "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'Member must have length less than or equal to 256'";
  if (!REPOSITORY_NAME_RE.test(name)) {
    return `Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '${REPOSITORY_NAME_PATTERN}''`;
  }
  return undefined;
}

function repoName(input: Input): string {
  const name = str(input, "repositoryName", true);
  const problem = repositoryNameProblem(name);
  if (problem) throw new AwsError("InvalidParameterException", problem);
  return name;
}

export function createApiHandler(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { state } = deps;

  const notFound = (registry: string, name: string) =>
    new AwsError("RepositoryNotFoundException", `The repository with name '${name}' does not exist in the registry with id '${registry}'`);

  function registryOf(caller: EmulatorAccount, input: Input): string {
    const id = str(input, "registryId");
    if (id === undefined) return caller.accountId;
    if (!/^[0-9]{12}$/.test(id)) {
      throw new AwsError("InvalidParameterException", "Invalid parameter at 'registryId' failed to satisfy constraint: 'must satisfy regular expression '[0-9]{12}''");
    }
    return id;
  }

  /**
   * IAM as seen by the test users: their identity policies allow everything except what deny()
   * turned off; another account's repository also needs its repository policy to allow the action.
   */
  function authorize(caller: EmulatorAccount, action: string, registry: string, repo: RepositoryRecord | undefined, name?: string): void {
    const resource = name === undefined ? "*" : state.repositoryArn(registry, name);
    const denied = (kind: string) =>
      new AwsError(
        "AccessDeniedException",
        `User: ${caller.userArn} is not authorized to perform: ${action} on resource: ${resource} because no ${kind} policy allows the ${action} action`,
      );
    if (!state.identityAllows(caller.accountId, action)) throw denied("identity-based");
    if (registry !== caller.accountId && !policyAllows(repo?.policyText, caller.accountId, caller.userArn, action)) {
      throw denied("resource-based");
    }
  }

  /** Looks up an existing repository the caller may act on. */
  function existing(caller: EmulatorAccount, input: Input, action: string): { registry: string; name: string; repo: RepositoryRecord } {
    const registry = registryOf(caller, input);
    const name = repoName(input);
    const repo = state.getRepo(registry, name);
    if (!repo) {
      authorize(caller, action, caller.accountId, undefined, name); // identity denial still comes first
      throw notFound(registry, name);
    }
    authorize(caller, action, registry, repo, name);
    return { registry, name, repo };
  }

  function repositoryShape(r: RepositoryRecord): Record<string, unknown> {
    return {
      repositoryArn: state.repositoryArn(r.accountId, r.name),
      registryId: r.accountId,
      repositoryName: r.name,
      repositoryUri: `${state.registryHost(r.accountId)}/${r.name}`,
      createdAt: epochSeconds(r.createdAt),
      imageTagMutability: r.imageTagMutability,
      ...(r.imageTagMutabilityExclusionFilters.length > 0
        ? { imageTagMutabilityExclusionFilters: r.imageTagMutabilityExclusionFilters.map((f) => ({ ...f })) }
        : {}),
      imageScanningConfiguration: { ...r.imageScanningConfiguration },
      encryptionConfiguration: { ...r.encryptionConfiguration },
    };
  }

  function parseMutability(input: Input): { mutability: TagMutability; filters: ExclusionFilter[] } {
    const raw = str(input, "imageTagMutability") ?? "MUTABLE";
    if (!(MUTABILITIES as readonly string[]).includes(raw)) {
      throw new AwsError(
        "InvalidParameterException",
        `Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: [${MUTABILITIES.join(", ")}]'`,
      );
    }
    const mutability = raw as TagMutability;
    const rawFilters = input.imageTagMutabilityExclusionFilters;
    const list = Array.isArray(rawFilters) ? (rawFilters as unknown[]) : [];
    const withExclusion = mutability.endsWith("_WITH_EXCLUSION");
    if (withExclusion && (list.length < 1 || list.length > 5)) {
      throw new AwsError(
        "InvalidParameterException",
        `Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'imageTagMutabilityExclusionFilters must contain between 1 and 5 filters when imageTagMutability is ${mutability}'`,
      );
    }
    if (!withExclusion && list.length > 0) {
      throw new AwsError(
        "InvalidParameterException",
        `Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'imageTagMutabilityExclusionFilters can only be specified when imageTagMutability is IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION'`,
      );
    }
    const filters = list.map((f): ExclusionFilter => {
      const o = (typeof f === "object" && f !== null ? f : {}) as Record<string, unknown>;
      if (o.filterType !== "WILDCARD" || typeof o.filter !== "string" || !/^[0-9a-zA-Z._*-]{1,128}$/.test(o.filter)) {
        throw new AwsError(
          "InvalidParameterException",
          "Invalid parameter at 'imageTagMutabilityExclusionFilters' failed to satisfy constraint: 'filterType must be WILDCARD and filter must satisfy regular expression '^[0-9a-zA-Z._*-]{1,128}''",
        );
      }
      return { filterType: "WILDCARD", filter: o.filter };
    });
    return { mutability, filters };
  }

  const operations: Record<string, Operation> = {
    GetAuthorizationToken(caller, input) {
      authorize(caller, "ecr:GetAuthorizationToken", caller.accountId, undefined);
      const ids = input.registryIds === undefined ? [caller.accountId] : registryIdList(input.registryIds);
      return {
        authorizationData: ids.map((id) => {
          // One token per entry, each naming the caller: tokens identify who pulls, not where.
          const { password, expiresAt } = state.issueToken(caller.accountId);
          return {
            authorizationToken: Buffer.from(`AWS:${password}`).toString("base64"),
            expiresAt: epochSeconds(expiresAt),
            proxyEndpoint: `https://${state.registryHost(id)}`,
          };
        }),
      };
    },

    CreateRepository(caller, input) {
      const registry = registryOf(caller, input);
      const name = repoName(input);
      authorize(caller, "ecr:CreateRepository", caller.accountId, undefined, name);
      if (registry !== caller.accountId) {
        // Repositories are only created in the caller's own registry.
        authorize(caller, "ecr:CreateRepository", registry, undefined, name);
      }
      const { mutability, filters } = parseMutability(input);
      const scanning = input.imageScanningConfiguration as { scanOnPush?: unknown } | undefined;
      const encryption = input.encryptionConfiguration as { encryptionType?: unknown; kmsKey?: unknown } | undefined;
      const encryptionType = encryption?.encryptionType ?? "AES256";
      if (!["AES256", "KMS", "KMS_DSSE"].includes(String(encryptionType))) {
        throw new AwsError(
          "InvalidParameterException",
          "Invalid parameter at 'encryptionConfiguration.encryptionType' failed to satisfy constraint: 'Member must satisfy enum value set: [KMS_DSSE, AES256, KMS]'",
        );
      }
      if (encryptionType === "AES256" && encryption?.kmsKey !== undefined) {
        throw new AwsError("InvalidParameterException", "Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: 'kmsKey can only be specified when encryptionType is KMS or KMS_DSSE'");
      }
      const tags = parseTags(input.tags);
      if (state.getRepo(registry, name)) {
        throw new AwsError("RepositoryAlreadyExistsException", `The repository with name '${name}' already exists in the registry with id '${registry}'`);
      }
      const repo: RepositoryRecord = {
        accountId: registry,
        name,
        createdAt: new Date(),
        imageTagMutability: mutability,
        imageTagMutabilityExclusionFilters: filters,
        imageScanningConfiguration: { scanOnPush: scanning?.scanOnPush === true },
        encryptionConfiguration:
          encryptionType === "AES256"
            ? { encryptionType: "AES256" }
            : {
                encryptionType: String(encryptionType),
                kmsKey: typeof encryption?.kmsKey === "string" ? encryption.kmsKey : `arn:aws:kms:${state.region}:${registry}:alias/aws/ecr`,
              },
        tags,
      };
      state.addRepo(repo);
      return { repository: repositoryShape(repo) };
    },

    DescribeRepositories(caller, input) {
      const registry = registryOf(caller, input);
      const names = input.repositoryNames;
      let repos: RepositoryRecord[];
      if (Array.isArray(names) && names.length > 0) {
        repos = (names as unknown[]).map((n) => existing(caller, { registryId: registry, repositoryName: n }, "ecr:DescribeRepositories").repo);
      } else {
        authorize(caller, "ecr:DescribeRepositories", caller.accountId, undefined);
        repos = state
          .listRepos(registry)
          .filter((r) => registry === caller.accountId || policyAllows(r.policyText, caller.accountId, caller.userArn, "ecr:DescribeRepositories"));
      }
      // Pagination: nextToken is the offset, opaque to clients as in AWS.
      const max = typeof input.maxResults === "number" ? input.maxResults : 100;
      const start = typeof input.nextToken === "string" ? Number(Buffer.from(input.nextToken, "base64url").toString()) || 0 : 0;
      const page = repos.slice(start, start + max);
      const next = start + max < repos.length ? Buffer.from(String(start + max)).toString("base64url") : undefined;
      return { repositories: page.map(repositoryShape), ...(next ? { nextToken: next } : {}) };
    },

    async DeleteRepository(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr:DeleteRepository");
      if (input.force !== true && deps.hasImages(registry, name)) {
        throw new AwsError(
          "RepositoryNotEmptyException",
          `The repository with name '${name}' in registry with id '${registry}' cannot be deleted because it still contains images`,
        );
      }
      await deps.removeImages(registry, name);
      state.deleteRepo(registry, name);
      return { repository: repositoryShape(repo) };
    },

    GetRepositoryPolicy(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr:GetRepositoryPolicy");
      if (repo.policyText === undefined) throw policyNotFound(registry, name);
      return { registryId: registry, repositoryName: name, policyText: repo.policyText };
    },

    SetRepositoryPolicy(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr:SetRepositoryPolicy");
      repo.policyText = checkedPolicyText(state, str(input, "policyText", true));
      return { registryId: registry, repositoryName: name, policyText: repo.policyText };
    },

    DeleteRepositoryPolicy(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr:DeleteRepositoryPolicy");
      if (repo.policyText === undefined) throw policyNotFound(registry, name);
      const text = repo.policyText;
      delete repo.policyText;
      return { registryId: registry, repositoryName: name, policyText: text };
    },

    PutLifecyclePolicy(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr:PutLifecyclePolicy");
      const text = str(input, "lifecyclePolicyText", true);
      lengthBetween("lifecyclePolicyText", text, 100, 30720);
      try {
        checkLifecyclePolicyText(text);
      } catch (error) {
        if (error instanceof LifecycleRefusal) throw new AwsError("InvalidParameterException", error.message);
        throw error;
      }
      repo.lifecyclePolicyText = text;
      repo.lifecycleEvaluatedAt = new Date();
      return { registryId: registry, repositoryName: name, lifecyclePolicyText: text };
    },

    GetLifecyclePolicy(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr:GetLifecyclePolicy");
      if (repo.lifecyclePolicyText === undefined) {
        throw new AwsError(
          "LifecyclePolicyNotFoundException",
          `Lifecycle policy does not exist for the repository with name '${name}' in the registry with id '${registry}'`,
        );
      }
      return {
        registryId: registry,
        repositoryName: name,
        lifecyclePolicyText: repo.lifecyclePolicyText,
        lastEvaluatedAt: epochSeconds(repo.lifecycleEvaluatedAt ?? repo.createdAt),
      };
    },
  };

  function policyNotFound(registry: string, name: string): AwsError {
    return new AwsError(
      "RepositoryPolicyNotFoundException",
      `Repository policy does not exist for the repository with name '${name}' in the registry with id '${registry}'`,
    );
  }

  const publicOperations = createPublicOperations(deps);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const target = String(req.headers["x-amz-target"] ?? "");
    // One port serves both APIs, told apart as AWS's front door does: by target and signing scope.
    const api = target.startsWith(PUBLIC_TARGET_PREFIX)
      ? { service: "ecr-public", prefix: PUBLIC_TARGET_PREFIX, region: PUBLIC_API_REGION, operations: publicOperations }
      : { service: "ecr", prefix: TARGET_PREFIX, region: state.region, operations };
    const operation = target.startsWith(api.prefix) ? target.slice(api.prefix.length) : target;
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString("utf8"));
    } catch {
      input = undefined;
    }
    const record = { service: api.service, operation, account: "", input };
    state.calls.push(record);

    const verified = verifySigV4(
      { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body },
      (id) => state.accountByKey(id)?.secretAccessKey,
      { region: api.region, service: api.service },
    );
    if ("code" in verified) {
      throw new AwsError(verified.code, verified.message, 400, CORAL);
    }
    const caller = state.accountByKey(verified.accessKeyId)!;
    record.account = caller.accountId;

    const op = target.startsWith(api.prefix) && req.method === "POST" && Object.hasOwn(api.operations, operation) ? api.operations[operation] : undefined;
    if (!op) throw new AwsError("UnknownOperationException", "");
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      throw new AwsError("SerializationException", "Start of structure or map expected");
    }
    const fault = state.takeFault(api.service === "ecr" ? operation : `${api.service}:${operation}`);
    if (fault?.kind === "throttle") throw new AwsError("ThrottlingException", "Rate exceeded");
    if (fault?.kind === "answer") return sendJson(res, 200, fault.body);
    sendJson(res, 200, await op(caller, input as Input));
  }

  return (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return;
      if (e instanceof AwsError) sendError(res, e);
      else sendError(res, new AwsError("ServerException", e instanceof Error ? e.message : String(e), 500));
    });
  };
}
