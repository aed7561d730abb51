// The ECR Public control-plane API as AWS serves it: AWS JSON 1.1 over POST / with
// `X-Amz-Target: SpencerFrontendService.<Operation>`, SigV4-signed for service `ecr-public` in
// us-east-1 (its only API region). Operations, members and constraints follow AWS's ECR Public API
// reference (GetAuthorizationToken, DescribeRegistries, CreateRepository with catalogData,
// DescribeRepositories, Get/PutRepositoryCatalogData, Get/SetRepositoryPolicy, DeleteRepository).
import { type ApiDeps, AwsError, checkedPolicyText, epochSeconds, type Input, lengthBetween, type Operation, parseTags, str } from "./api.js";
import type { EmulatorAccount, PublicRepositoryRecord } from "./state.js";

export const PUBLIC_TARGET_PREFIX = "SpencerFrontendService.";
export const PUBLIC_API_REGION = "us-east-1";
/** The registry host of ECR Public; a repository's URI is `public.ecr.aws/<alias>/<name>`. */
export const PUBLIC_REGISTRY_HOST = "public.ecr.aws";
const NAME_PATTERN = "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*";
const NAME_RE = new RegExp(`^${NAME_PATTERN}$`);
/** logoImageBlob: at most 512000 bytes. */
const MAX_LOGO_BYTES = 512_000;

/** The text members of RepositoryCatalogDataInput and their maximum lengths. */
const CATALOG_TEXT: Readonly<Record<string, number>> = { description: 1024, aboutText: 25600, usageText: 25600 };
const CATALOG_LISTS = ["architectures", "operatingSystems"] as const;

function validationError(field: string, constraint: string): AwsError {
  return new AwsError("InvalidParameterException", `1 validation error detected: Value at '${field}' failed to satisfy constraint: ${constraint}`);
}

/** RepositoryCatalogDataInput checked as AWS checks it; the stored form (logoImageBlob -> logoUrl). */
function parseCatalogData(value: unknown, accountId: string, name: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new AwsError("SerializationException", "Start of structure or map expected at 'catalogData'");
  const input = value as Input;
  const out: Record<string, unknown> = {};
  for (const [field, max] of Object.entries(CATALOG_TEXT)) {
    const text = str(input, field);
    if (text === undefined) continue;
    lengthBetween(`catalogData.${field}`, text, 0, max);
    out[field] = text;
  }
  for (const field of CATALOG_LISTS) {
    const list = input[field];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new AwsError("SerializationException", `Start of list expected at 'catalogData.${field}'`);
    if (list.length > 50) throw validationError(`catalogData.${field}`, "Member must have length less than or equal to 50");
    for (const item of list) {
      if (typeof item !== "string") throw new AwsError("SerializationException", `Expected a string at 'catalogData.${field}'`);
      // Any 1-50 character value is kept; only the Gallery's own values are shown there.
      if (item.length < 1 || item.length > 50) throw validationError(`catalogData.${field}`, "Member must satisfy constraint: [Member must have length less than or equal to 50, Member must have length greater than or equal to 1]");
    }
    out[field] = [...(list as string[])];
  }
  const logo = str(input, "logoImageBlob");
  if (logo !== undefined) {
    if (Buffer.from(logo, "base64").length > MAX_LOGO_BYTES) throw validationError("catalogData.logoImageBlob", `Member must have length less than or equal to ${MAX_LOGO_BYTES}`);
    out.logoUrl = `https://d2c5rpmbadq7yk.cloudfront.net/logo/${accountId}/${name}.png`;
  }
  return out;
}

export function createPublicOperations(deps: ApiDeps): Record<string, Operation> {
  const { state } = deps;

  function authorize(caller: EmulatorAccount, action: string, resource = "*"): void {
    if (!state.identityAllows(caller.accountId, action)) {
      throw new AwsError("AccessDeniedException", `User: ${caller.userArn} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`);
    }
  }

  /** registryId: 12 digits; only the caller's own public registry is reachable through this API. */
  function registryOf(caller: EmulatorAccount, input: Input): string {
    const id = str(input, "registryId");
    if (id === undefined) return caller.accountId;
    if (!/^[0-9]{12}$/.test(id)) throw validationError("registryId", "Member must satisfy regular expression pattern: [0-9]{12}");
    return id;
  }

  function repoName(input: Input, field = "repositoryName"): string {
    const name = str(input, field, true);
    if (name.length < 2) throw validationError(field, "Member must have length greater than or equal to 2");
    if (name.length > 205) throw validationError(field, "Member must have length less than or equal to 205");
    if (!NAME_RE.test(name)) throw validationError(field, `Member must satisfy regular expression pattern: ${NAME_PATTERN}`);
    return name;
  }

  const notFound = (registry: string, name: string) => new AwsError("RepositoryNotFoundException", `The repository with name '${name}' does not exist in the registry with id '${registry}'`);

  function existing(caller: EmulatorAccount, input: Input, action: string): { registry: string; name: string; repo: PublicRepositoryRecord } {
    const registry = registryOf(caller, input);
    const name = repoName(input);
    authorize(caller, action, state.publicRepositoryArn(registry, name));
    // Another account's registry answers as if the repository were not there.
    const repo = registry === caller.accountId ? state.publicRepos.get(registry, name) : undefined;
    if (!repo) throw notFound(registry, name);
    return { registry, name, repo };
  }

  function repositoryShape(r: PublicRepositoryRecord): Record<string, unknown> {
    const account = state.accountById(r.accountId)!;
    return {
      repositoryArn: state.publicRepositoryArn(r.accountId, r.name),
      registryId: r.accountId,
      repositoryName: r.name,
      repositoryUri: `${PUBLIC_REGISTRY_HOST}/${account.publicAlias}/${r.name}`,
      createdAt: epochSeconds(r.createdAt),
    };
  }

  return {
    GetAuthorizationToken(caller) {
      // A public registry token is an STS service bearer token: IAM checks both actions.
      authorize(caller, "ecr-public:GetAuthorizationToken");
      authorize(caller, "sts:GetServiceBearerToken");
      const { password, expiresAt } = state.issueToken(caller.accountId, "public");
      return { authorizationData: { authorizationToken: Buffer.from(`AWS:${password}`).toString("base64"), expiresAt: epochSeconds(expiresAt) } };
    },

    DescribeRegistries(caller) {
      authorize(caller, "ecr-public:DescribeRegistries");
      const id = caller.accountId;
      return {
        registries: [
          {
            registryId: id,
            registryArn: `arn:aws:ecr-public::${id}:registry/${id}`,
            registryUri: `${PUBLIC_REGISTRY_HOST}/${caller.publicAlias}`,
            verified: false,
            aliases: [{ name: caller.publicAlias, status: "ACTIVE", primaryRegistryAlias: true, defaultRegistryAlias: true }],
          },
        ],
      };
    },

    CreateRepository(caller, input) {
      const name = repoName(input);
      authorize(caller, "ecr-public:CreateRepository", state.publicRepositoryArn(caller.accountId, name));
      const catalogData = parseCatalogData(input.catalogData, caller.accountId, name);
      const tags = parseTags(input.tags);
      if (state.publicRepos.get(caller.accountId, name)) {
        throw new AwsError("RepositoryAlreadyExistsException", `The repository with name '${name}' already exists in the registry with id '${caller.accountId}'`);
      }
      const repo: PublicRepositoryRecord = { accountId: caller.accountId, name, createdAt: new Date(), catalogData, tags };
      state.publicRepos.add(repo);
      return { repository: repositoryShape(repo), catalogData: { ...catalogData } };
    },

    DescribeRepositories(caller, input) {
      const registry = registryOf(caller, input);
      const names = input.repositoryNames;
      let repos: PublicRepositoryRecord[];
      if (Array.isArray(names) && names.length > 0) {
        if (names.length > 100) throw validationError("repositoryNames", "Member must have length less than or equal to 100");
        repos = (names as unknown[]).map((n) => existing(caller, { registryId: registry, repositoryName: n }, "ecr-public:DescribeRepositories").repo);
      } else {
        authorize(caller, "ecr-public:DescribeRepositories");
        repos = registry === caller.accountId ? state.publicRepos.list(registry) : [];
      }
      return { repositories: repos.map(repositoryShape) };
    },

    GetRepositoryCatalogData(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr-public:GetRepositoryCatalogData");
      if (Object.keys(repo.catalogData).length === 0) {
        throw new AwsError("RepositoryCatalogDataNotFoundException", `The repository catalog data for the repository with name '${name}' in registry '${registry}' does not exist`);
      }
      return { catalogData: structuredClone(repo.catalogData) };
    },

    PutRepositoryCatalogData(caller, input) {
      const { name, repo } = existing(caller, input, "ecr-public:PutRepositoryCatalogData");
      if (input.catalogData === undefined || input.catalogData === null) throw validationError("catalogData", "Member must not be null");
      // The catalog data is replaced as a whole: members left out are cleared.
      repo.catalogData = parseCatalogData(input.catalogData, caller.accountId, name);
      return { catalogData: structuredClone(repo.catalogData) };
    },

    GetRepositoryPolicy(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr-public:GetRepositoryPolicy");
      if (repo.policyText === undefined) {
        throw new AwsError("RepositoryPolicyNotFoundException", `Repository policy does not exist for the repository with name '${name}' in the registry with id '${registry}'`);
      }
      return { registryId: registry, repositoryName: name, policyText: repo.policyText };
    },

    SetRepositoryPolicy(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr-public:SetRepositoryPolicy");
      repo.policyText = checkedPolicyText(state, str(input, "policyText", true));
      return { registryId: registry, repositoryName: name, policyText: repo.policyText };
    },

    async DeleteRepository(caller, input) {
      const { registry, name, repo } = existing(caller, input, "ecr-public:DeleteRepository");
      const account = state.accountById(registry)!;
      const stored = `${account.publicAlias}/${name}`;
      if (input.force !== true && deps.hasImages("public", stored)) {
        throw new AwsError("RepositoryNotEmptyException", `The repository with name '${name}' in registry with id '${registry}' cannot be deleted because it still contains images`);
      }
      await deps.removeImages("public", stored);
      state.publicRepos.delete(registry, name);
      return { repository: repositoryShape(repo) };
    },
  };
}
