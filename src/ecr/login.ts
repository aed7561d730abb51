// In-process `docker login` for Amazon ECR: a credential source for the registry keychain that,
// for an ECR host, calls GetAuthorizationToken in the host's region with the AWS SDK's credential
// chain, decodes `AWS:<password>` and hands the registry a Basic credential. Tokens are cached in
// memory and on disk (token-cache.ts) and dropped when the registry refuses them.
import { Credential } from "../registry/credential.js";
import type { CredentialSource } from "../registry/keychain.js";
import { ECR_PUBLIC_API_REGION, EcrClients, loadEcrPublicSdk, loadEcrSdk, type EcrClientOptions } from "./client.js";
import { CONFIGURE_CREDENTIALS_HINT, EcrError, ecrApiError } from "./errors.js";
import { parseEcrHost, type EcrHost } from "./host.js";
import { EcrTokenCache, tokenCacheKey, type CachedToken } from "./token-cache.js";

/** Where a Credential from this source says it came from. */
export const ECR_CREDENTIAL_SOURCE = "ecr";

/**
 * After a refused token was replaced, another refusal within this long is taken to be about
 * permissions, not the token's age: no new token is fetched (no GetAuthorizationToken per request).
 */
const REFRESH_INTERVAL_MS = 30_000;

export interface EcrLoginOptions extends EcrClientOptions {
  /** Share SDK clients with the repository code. */
  readonly clients?: EcrClients;
  /** The token cache (default: memory plus $XDG_CACHE_HOME/imagespec/ecr-tokens). */
  readonly cache?: EcrTokenCache;
  /** The clock. */
  readonly now?: () => number;
}

interface Issued {
  readonly key: string;
  readonly password: string;
}

export class EcrCredentialSource implements CredentialSource {
  readonly name = ECR_CREDENTIAL_SOURCE;
  readonly clients: EcrClients;
  readonly cache: EcrTokenCache;
  private readonly now: () => number;
  private readonly ownsClients: boolean;
  private readonly inflight = new Map<string, Promise<Issued>>();
  /** The last token handed out per registry host, to know what a refusal refers to. */
  private readonly issued = new Map<string, Issued>();
  /** When a refused token was last replaced, per host. */
  private readonly refreshed = new Map<string, number>();
  /** Why resolve() had nothing for a host, for the registry's "no credentials" hint. */
  private readonly problems = new Map<string, string>();

  constructor(private readonly options: EcrLoginOptions = {}) {
    this.ownsClients = options.clients === undefined;
    this.clients = options.clients ?? new EcrClients(options);
    this.cache = options.cache ?? new EcrTokenCache(options.now ? { now: options.now } : {});
    this.now = options.now ?? Date.now;
  }

  /**
   * A Basic credential (user AWS) for an ECR host; undefined for other hosts. A private ECR
   * host without AWS credentials is undefined too (another source, a docker login, may know
   * it), with the reason kept for the registry's hint; ECR Public falls back to anonymous.
   */
  async resolve(registry: string): Promise<Credential | undefined> {
    const host = ecrHostOf(registry);
    if (!host) return undefined;
    try {
      const issued = await this.token(host);
      return Credential.basic("AWS", issued.password, ECR_CREDENTIAL_SOURCE);
    } catch (error) {
      // ECR Public serves pulls anonymously: any login failure there means "go anonymous".
      if (error instanceof EcrError && (error.code === "AWS_CREDENTIALS_MISSING" || host.public)) {
        this.problems.set(host.host, `${error.message} (${error.hint ?? CONFIGURE_CREDENTIALS_HINT})`);
        return undefined;
      }
      throw error;
    }
  }

  /** Why there was no credential for a registry (shown in the registry's 401 hint). */
  describeMissing(registry: string): string | undefined {
    const host = ecrHostOf(registry);
    return host ? this.problems.get(host.host) : undefined;
  }

  /** A refused ECR token came from the AWS identity, not from a `docker login`: say what to check there. */
  rejectedHint(registry: string): string | undefined {
    return ecrHostOf(registry) ? `the token came from GetAuthorizationToken with your AWS identity${this.options.profile !== undefined ? ` (profile ${this.options.profile})` : ""}; check that it may pull/push this repository (ecr:BatchGetImage, ecr:PutImage, ...), that the account and region in the host are right, and that the credentials are current (aws sts get-caller-identity)` : undefined;
  }

  /**
   * The registry refused a token (ECR: 403 "Your authorization token has expired"): drops it from
   * memory and disk and returns true, so the caller asks again and gets a fresh one. At most once
   * per host every 30 s; a refusal soon after a refresh is a permission problem, not an old token.
   */
  async invalidate(registry: string, credential: Credential): Promise<boolean> {
    const host = ecrHostOf(registry);
    if (!host) return false;
    const issued = this.issued.get(host.host);
    if (!issued) return false;
    if (issued.password !== credential.secret) return true; // already replaced by a newer token
    const now = this.now();
    const last = this.refreshed.get(host.host);
    if (last !== undefined && now - last < REFRESH_INTERVAL_MS) return false;
    this.refreshed.set(host.host, now);
    this.issued.delete(host.host);
    await this.cache.delete(issued.key);
    return true;
  }

  /** The registry password for an ECR host, as `aws ecr get-login-password` prints it. */
  async password(registry: string): Promise<string> {
    const host = ecrHostOf(registry);
    if (!host) {
      throw new EcrError("INVALID_ECR_HOST", `${registry} is not an Amazon ECR registry host`, {
        hint: "an ECR host looks like 123456789012.dkr.ecr.us-east-1.amazonaws.com (or public.ecr.aws)",
      });
    }
    return (await this.token(host)).password;
  }

  close(): void {
    if (this.ownsClients) this.clients.destroy();
  }

  private async token(host: EcrHost): Promise<Issued> {
    if (host.public) return this.publicToken(host);
    const client = await this.clients.forHost(host);
    const { GetAuthorizationTokenCommand } = await loadEcrSdk();
    const subject = `registry ${host.host}`;
    const context = { operation: "GetAuthorizationToken", subject, ...(this.options.profile !== undefined ? { profile: this.options.profile } : {}) };
    let accessKeyId: string;
    try {
      accessKeyId = await this.clients.accessKeyId(client);
    } catch (error) {
      throw ecrApiError(error, context);
    }
    const key = tokenCacheKey(host.region, host.account!, accessKeyId);
    return this.cachedOrFetched(host, key, async () => {
      let output;
      try {
        output = await client.send(new GetAuthorizationTokenCommand({ registryIds: [host.account!] }));
      } catch (error) {
        throw ecrApiError(error, context);
      }
      const data = output.authorizationData?.[0];
      return decodeToken(host, data?.authorizationToken, data?.expiresAt, this.now());
    });
  }

  private async cachedOrFetched(host: EcrHost, key: string, fetch: () => Promise<CachedToken>): Promise<Issued> {
    const cached = await this.cache.get(key);
    if (cached) {
      const issued = { key, password: cached.password };
      const previous = this.issued.get(host.host);
      this.issued.set(host.host, previous?.password === cached.password ? previous : issued);
      return this.issued.get(host.host)!;
    }
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = (async () => {
        const token = await fetch();
        await this.cache.set(key, token);
        const issued: Issued = { key, password: token.password };
        this.issued.set(host.host, issued);
        return issued;
      })();
      this.inflight.set(key, pending);
      void pending.finally(() => this.inflight.delete(key)).catch(() => undefined);
    }
    return pending;
  }

  /**
   * ECR Public: GetAuthorizationToken of `ecr-public` in us-east-1 (IAM: ecr-public:GetAuthorizationToken
   * and sts:GetServiceBearerToken), one token per identity for every alias.
   */
  private async publicToken(host: EcrHost): Promise<Issued> {
    const client = await this.clients.forPublic(host);
    const { GetAuthorizationTokenCommand } = await loadEcrPublicSdk();
    const context = { operation: "GetAuthorizationToken", service: "ecr-public", subject: `registry ${host.host} (ECR Public)`, ...(this.options.profile !== undefined ? { profile: this.options.profile } : {}) } as const;
    let accessKeyId: string;
    try {
      accessKeyId = await this.clients.accessKeyId(client);
    } catch (error) {
      throw ecrApiError(error, context);
    }
    return this.cachedOrFetched(host, tokenCacheKey(ECR_PUBLIC_API_REGION, "public", accessKeyId), async () => {
      let output;
      try {
        output = await client.send(new GetAuthorizationTokenCommand({}));
      } catch (error) {
        throw ecrApiError(error, context);
      }
      return decodeToken(host, output.authorizationData?.authorizationToken, output.authorizationData?.expiresAt, this.now());
    });
  }
}

function ecrHostOf(registry: string): EcrHost | undefined {
  return parseEcrHost(registry);
}

/** `base64("AWS:" + password)` -> the password, with its lifetime. */
export function decodeToken(host: EcrHost, authorizationToken: string | undefined, expiresAt: Date | undefined, now: number): CachedToken {
  const decoded = authorizationToken ? Buffer.from(authorizationToken, "base64").toString("utf8") : "";
  const colon = decoded.indexOf(":");
  if (colon < 0 || decoded.slice(0, colon) !== "AWS" || colon === decoded.length - 1) {
    throw new EcrError("ECR_TOKEN_INVALID", `GetAuthorizationToken for ${host.host} returned no usable token`, {
      hint: "the ECR API answered without an AWS:<password> token, which AWS's ECR never does: check the API endpoint (AWS_ENDPOINT_URL_ECR, or the profile's endpoint_url) if you set one",
      operation: "GetAuthorizationToken",
    });
  }
  // ECR tokens live 12 hours; an answer without an expiry is taken to live one hour.
  const expiry = expiresAt instanceof Date && !Number.isNaN(expiresAt.getTime()) ? expiresAt.getTime() : now + 3_600_000;
  return { password: decoded.slice(colon + 1), fetchedAt: now, expiresAt: expiry };
}
