// In-memory state of the emulated ECR: accounts and their credentials, repositories (settings and
// policies), registry tokens, and the deny() switches. The API server and the registry fronts share
// one State, so a repository created through the API is what the fronts see.
import { randomBytes } from "node:crypto";
import { wildcardMatch } from "./policy.js";

export interface EmulatorAccount {
  readonly accountId: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly userArn: string;
  /** The alias of the account's ECR Public registry (`public.ecr.aws/<alias>`). */
  readonly publicAlias: string;
}

export type TagMutability = "MUTABLE" | "IMMUTABLE" | "IMMUTABLE_WITH_EXCLUSION" | "MUTABLE_WITH_EXCLUSION";

export interface ExclusionFilter {
  readonly filterType: "WILDCARD";
  readonly filter: string;
}

/** A snapshot of one repository, as tests see it through `emulator.repository()`. */
export interface EmulatedRepository {
  readonly accountId: string;
  readonly name: string;
  readonly arn: string;
  readonly uri: string;
  readonly createdAt: Date;
  readonly imageTagMutability: TagMutability;
  readonly imageTagMutabilityExclusionFilters: readonly ExclusionFilter[];
  readonly imageScanningConfiguration: { readonly scanOnPush: boolean };
  readonly encryptionConfiguration: { readonly encryptionType: string; readonly kmsKey?: string };
  readonly tags: readonly { readonly Key: string; readonly Value: string }[];
  readonly policyText?: string;
  readonly lifecyclePolicyText?: string;
}

/** Mutable record behind a snapshot. */
export interface RepositoryRecord {
  accountId: string;
  name: string;
  createdAt: Date;
  imageTagMutability: TagMutability;
  imageTagMutabilityExclusionFilters: ExclusionFilter[];
  imageScanningConfiguration: { scanOnPush: boolean };
  encryptionConfiguration: { encryptionType: string; kmsKey?: string };
  tags: { Key: string; Value: string }[];
  policyText?: string;
  lifecyclePolicyText?: string;
  lifecycleEvaluatedAt?: Date;
}

/** An ECR Public repository (`public.ecr.aws/<alias>/<name>`), as tests see it through `emulator.publicRepository()`. */
export interface PublicRepositoryRecord {
  accountId: string;
  name: string;
  createdAt: Date;
  /** RepositoryCatalogData as GetRepositoryCatalogData answers it (logoImageBlob becomes logoUrl). */
  catalogData: Record<string, unknown>;
  tags: { Key: string; Value: string }[];
  policyText?: string;
}

export interface ApiCall {
  /** `ecr` or `ecr-public`. */
  service: string;
  operation: string;
  /** Account of the signing key; "" when the request was not authenticated. */
  account: string;
  input: unknown;
}

export interface RegistryRequest {
  method: string;
  path: string;
  /** 0 when the emulator dropped the connection without an answer. */
  status: number;
  account?: string;
  /** The body came with Transfer-Encoding: chunked (a stream of unknown length). */
  chunkedBody?: boolean;
}

interface Token {
  account: string;
  expiresAt: number;
  /** Which GetAuthorizationToken issued it: ECR's (a private registry) or ECR Public's. */
  kind: "private" | "public";
}

/** A bearer token of the ECR Public registry's token endpoint: an account's, or anonymous (pull only). */
interface PublicBearer {
  account?: string;
  expiresAt: number;
}

function makeAccount(accountId: string, accessKeyId: string): EmulatorAccount {
  // Secrets are fresh per emulator, so nothing can pass by reusing a value from another run.
  return {
    accountId,
    accessKeyId,
    secretAccessKey: randomBytes(30).toString("base64"),
    userArn: `arn:aws:iam::${accountId}:user/imagespec-test`,
    publicAlias: `imagespec-${accountId.slice(0, 4)}`,
  };
}

/** Repositories by account and name. */
export class RepositoryTable<R extends { readonly accountId: string; readonly name: string }> {
  private readonly byKey = new Map<string, R>();

  get(accountId: string, name: string): R | undefined {
    return this.byKey.get(`${accountId}/${name}`);
  }

  /** An account's repositories, by name. */
  list(accountId: string): R[] {
    return [...this.byKey.values()].filter((r) => r.accountId === accountId).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  add(repo: R): void {
    this.byKey.set(`${repo.accountId}/${repo.name}`, repo);
  }

  delete(accountId: string, name: string): void {
    this.byKey.delete(`${accountId}/${name}`);
  }
}

export class State {
  readonly owner: EmulatorAccount = makeAccount("111111111111", "AKIAIMAGESPECOWNER11");
  readonly other: EmulatorAccount = makeAccount("222222222222", "AKIAIMAGESPECOTHER22");
  readonly calls: ApiCall[] = [];
  readonly registryRequests: RegistryRequest[] = [];
  private readonly repos = new RepositoryTable<RepositoryRecord>();
  /** ECR Public repositories, per owning account. */
  readonly publicRepos = new RepositoryTable<PublicRepositoryRecord>();
  private readonly publicBearers = new Map<string, PublicBearer>(); // key: the bearer token
  private readonly tokens = new Map<string, Token>(); // key: the Basic-auth password
  private readonly denies: { account: string; action: string }[] = [];
  /** Injected answers per operation, used up in order: ECR's throttling, or a body no AWS would send. */
  private readonly faults = new Map<string, ({ kind: "throttle" } | { kind: "answer"; body: unknown })[]>();

  constructor(
    readonly region: string,
    readonly tokenTtlSeconds: number,
  ) {}

  get accounts(): EmulatorAccount[] {
    return [this.owner, this.other];
  }

  accountById(accountId: string): EmulatorAccount | undefined {
    return this.accounts.find((a) => a.accountId === accountId);
  }

  accountByKey(accessKeyId: string): EmulatorAccount | undefined {
    return this.accounts.find((a) => a.accessKeyId === accessKeyId);
  }

  registryHost(accountId: string): string {
    return `${accountId}.dkr.ecr.${this.region}.amazonaws.com`;
  }

  repositoryArn(accountId: string, name: string): string {
    return `arn:aws:ecr:${this.region}:${accountId}:repository/${name}`;
  }

  getRepo(accountId: string, name: string): RepositoryRecord | undefined {
    return this.repos.get(accountId, name);
  }

  listRepos(accountId: string): RepositoryRecord[] {
    return this.repos.list(accountId);
  }

  addRepo(repo: RepositoryRecord): void {
    this.repos.add(repo);
  }

  deleteRepo(accountId: string, name: string): void {
    this.repos.delete(accountId, name);
  }

  snapshot(r: RepositoryRecord): EmulatedRepository {
    return {
      accountId: r.accountId,
      name: r.name,
      arn: this.repositoryArn(r.accountId, r.name),
      uri: `${this.registryHost(r.accountId)}/${r.name}`,
      createdAt: new Date(r.createdAt),
      imageTagMutability: r.imageTagMutability,
      imageTagMutabilityExclusionFilters: r.imageTagMutabilityExclusionFilters.map((f) => ({ ...f })),
      imageScanningConfiguration: { ...r.imageScanningConfiguration },
      encryptionConfiguration: { ...r.encryptionConfiguration },
      tags: r.tags.map((t) => ({ ...t })),
      ...(r.policyText !== undefined ? { policyText: r.policyText } : {}),
      ...(r.lifecyclePolicyText !== undefined ? { lifecyclePolicyText: r.lifecyclePolicyText } : {}),
    };
  }

  accountByAlias(alias: string): EmulatorAccount | undefined {
    return this.accounts.find((a) => a.publicAlias === alias);
  }

  publicRepositoryArn(accountId: string, name: string): string {
    return `arn:aws:ecr-public::${accountId}:repository/${name}`;
  }


  /** A bearer token of the public registry's token endpoint: for an account (from its GetAuthorizationToken password) or anonymous. */
  issuePublicBearer(account: string | undefined): { token: string; expiresIn: number } {
    const token = randomBytes(48).toString("base64url");
    const expiresIn = 900;
    this.publicBearers.set(token, { ...(account !== undefined ? { account } : {}), expiresAt: Date.now() + expiresIn * 1000 });
    return { token, expiresIn };
  }

  lookupPublicBearer(token: string): { account?: string; expired: boolean } | undefined {
    const t = this.publicBearers.get(token);
    return t && { ...(t.account !== undefined ? { account: t.account } : {}), expired: Date.now() >= t.expiresAt };
  }

  /** A new registry password for `account`; the caller wraps it as base64("AWS:" + password). */
  issueToken(account: string, kind: "private" | "public" = "private"): { password: string; expiresAt: Date } {
    const password = randomBytes(48).toString("base64url");
    const expiresAt = Date.now() + this.tokenTtlSeconds * 1000;
    this.tokens.set(password, { account, expiresAt, kind });
    return { password, expiresAt: new Date(expiresAt) };
  }

  /** The token behind a registry password; a token of the other kind is unknown here, as ECR and ECR Public do not share tokens. */
  lookupToken(password: string, kind: "private" | "public" = "private"): { account: string; expired: boolean } | undefined {
    const t = this.tokens.get(password);
    return t && t.kind === kind ? { account: t.account, expired: Date.now() >= t.expiresAt } : undefined;
  }

  expireTokens(): void {
    const past = Date.now() - 1000;
    for (const t of this.tokens.values()) t.expiresAt = past;
    for (const t of this.publicBearers.values()) t.expiresAt = past;
  }

  /** The next `times` calls of `operation` answer ThrottlingException ("Rate exceeded"). */
  throttle(operation: string, times: number): void {
    this.faults.set(operation, [...(this.faults.get(operation) ?? []), ...Array.from({ length: times }, () => ({ kind: "throttle" as const }))]);
  }

  /** The next call of `operation` answers 200 with this body instead of the real answer. */
  answerOnce(operation: string, body: unknown): void {
    this.faults.set(operation, [...(this.faults.get(operation) ?? []), { kind: "answer", body }]);
  }

  takeFault(operation: string): { kind: "throttle" } | { kind: "answer"; body: unknown } | undefined {
    return this.faults.get(operation)?.shift();
  }

  /** IAM roles and users that exist besides each account's test user (addIamPrincipal). */
  private readonly iamPrincipals = new Set<string>();

  addIamPrincipal(arn: string): void {
    this.iamPrincipals.add(arn);
  }

  /**
   * Whether IAM knows a policy principal: "*", an account (id or root ARN), or a role or user
   * that exists. Anything else is not a principal at all.
   */
  principalExists(principal: unknown): boolean {
    if (typeof principal !== "string") return false;
    if (principal === "*" || /^\d{12}$/.test(principal) || /^arn:aws:iam::\d{12}:root$/.test(principal)) return true;
    if (!/^arn:aws:iam::\d{12}:(?:role|user)\/.+$/.test(principal)) return false;
    return this.iamPrincipals.has(principal) || this.accounts.some((a) => a.userArn === principal);
  }

  deny(account: string, action: string): void {
    this.denies.push({ account, action });
  }

  /** Identity side of IAM: every test user may do everything except what deny() switched off. */
  identityAllows(account: string, action: string): boolean {
    return !this.denies.some((d) => d.account === account && wildcardMatch(d.action, action));
  }
}
