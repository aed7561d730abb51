// Registry authentication: answer the `WWW-Authenticate` challenge. Basic sends the credentials on
// every request; Bearer trades them (or nothing, for anonymous pulls) at the token endpoint for a
// token per scope set, cached until it expires and fetched again when the registry rejects it.
import { ImagespecError } from "../errors.js";
import { isLoopbackHost } from "../reference/index.js";
import { parseChallenges, preferredChallenge, type Challenge } from "./challenge.js";
import type { Credential } from "./credential.js";
import { parseErrorBody, RegistryError, safeUrl } from "./errors.js";
import type { Keychain } from "./keychain.js";
import { normaliseScopes, scopesCover } from "./scope.js";
import type { HttpRequest, HttpResponse, Transport } from "./transport.js";

const DEFAULT_TOKEN_TTL_SECONDS = 60;

/** Bearer tokens by registry and scope set. Share one between clients that share a keychain. */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  private static key(registry: string, scopes: readonly string[]): string {
    return `${registry} ${normaliseScopes(scopes).join(" ")}`;
  }

  get(registry: string, scopes: readonly string[], now = Date.now()): string | undefined {
    const entry = this.tokens.get(TokenCache.key(registry, scopes));
    return entry && entry.expiresAt > now ? entry.token : undefined;
  }

  /** Stores a token, to be dropped a little before the registry would (a tenth of its life, at most 30 s). */
  set(registry: string, scopes: readonly string[], token: string, ttlSeconds: number, now = Date.now()): void {
    const ttlMs = Math.max(0, ttlSeconds) * 1000;
    this.tokens.set(TokenCache.key(registry, scopes), { token, expiresAt: now + ttlMs - Math.min(30_000, ttlMs / 10) });
  }

  delete(registry: string, scopes: readonly string[]): void {
    this.tokens.delete(TokenCache.key(registry, scopes));
  }
}

interface Authorization {
  readonly header: string;
  /** From the cache: a 401 may just mean it expired or was revoked. */
  readonly cached: boolean;
  /** The credential sent as is (Basic): its source may replace it when the registry refuses it. */
  readonly credential?: Credential;
}

/** Authenticates the requests to one registry. */
export class Authenticator {
  private challenge: Challenge | undefined;
  private credential: Promise<Credential | undefined> | undefined;
  private readonly inflight = new Map<string, Promise<string>>();
  private basicLogged = false;

  constructor(
    readonly registry: string,
    private readonly transport: Transport,
    private readonly keychain: Keychain,
    private readonly cache: TokenCache,
  ) {}

  /** Sends a request with the authorization the scopes need, answering a 401 challenge once. Throws on a final 401. */
  async request(req: HttpRequest, scopes: readonly string[]): Promise<HttpResponse> {
    const origin = (await this.transport.baseUrl(this.registry, req.signal)).origin;
    // Upload locations and redirects may point elsewhere; credentials go only to the registry.
    if (req.url.origin !== origin) return this.transport.request(req);
    let wanted = normaliseScopes(scopes);
    let auth = await this.authorization(wanted, false);
    // At most three sends: without auth (learning the challenge), with a cached token the
    // registry may have stopped accepting, with a freshly fetched one.
    let renewed = false;
    for (let round = 0; ; round++) {
      const res = await this.transport.request(withAuthorization(req, auth));
      if ((res.status === 401 || res.status === 403) && auth?.credential && !renewed) {
        // A credential the registry refused may be a stale token (tokens minted by a cloud API
        // expire, and some registries refuse them with 403 DENIED): its source drops it and, when
        // that may help, we ask once more.
        renewed = true;
        if (await this.keychain.invalidate(this.registry, auth.credential)) {
          this.credential = undefined;
          const next = await this.authorization(wanted, false);
          if (next) {
            await res.discard();
            this.assertReplayable(req);
            this.transport.logger?.({ type: "auth", registry: this.registry, scheme: "basic", scopes: wanted, source: auth.credential.source, action: "credential-refresh" });
            auth = next;
            continue;
          }
        }
      }
      if (res.status !== 401) return res;
      const challenge = preferredChallenge(parseChallenges(res.headers["www-authenticate"]));
      if (!challenge) return this.unauthorized(res, auth);
      const asked = challenge.params.scope;
      const widened = asked ? normaliseScopes([...wanted, asked]) : wanted;
      const learned = this.challenge === undefined || this.challenge.scheme !== challenge.scheme;
      this.challenge = challenge;
      if (auth?.cached) this.cache.delete(this.registry, wanted);
      // Answering again only helps with something new: a first challenge, a stale token, wider scopes.
      const worthAnother = auth === undefined || auth.cached || learned || !scopesCover(wanted, widened);
      if (round >= 2 || !worthAnother) return this.unauthorized(res, auth);
      wanted = widened;
      // Bypass the cache only when what it gave us was just refused.
      const next = await this.authorization(wanted, auth?.cached === true);
      if (!next) return this.unauthorized(res, undefined);
      await res.discard();
      this.assertReplayable(req);
      auth = next;
    }
  }

  private assertReplayable(req: HttpRequest): void {
    if (req.body !== undefined && !Buffer.isBuffer(req.body) && typeof (req.body as { open?: unknown }).open !== "function") {
      // A streamed body is spent; the caller starts over, and will find the new token cached.
      throw new RegistryError({ method: req.method, url: req.url, status: 401, code: "UNAUTHORIZED", problem: "the token was refreshed; the upload must restart", retryable: true });
    }
  }

  /** What to send for these scopes; undefined until a challenge says auth is needed. */
  private async authorization(scopes: readonly string[], refresh: boolean): Promise<Authorization | undefined> {
    this.challenge ??= preferredChallenge(parseChallenges(this.transport.probeChallenge(this.registry)));
    const challenge = this.challenge;
    if (!challenge) return undefined;
    const credential = await this.resolveCredential();
    if (challenge.scheme === "basic") {
      if (!credential || credential.kind === "registry-token") return undefined;
      if (!this.basicLogged) this.transport.logger?.({ type: "auth", registry: this.registry, scheme: "basic", scopes, source: credential.source, action: "basic" });
      this.basicLogged = true;
      return { header: credential.basicAuthorization(), cached: false, credential };
    }
    if (challenge.scheme !== "bearer") return undefined;
    if (credential?.kind === "registry-token") return { header: `Bearer ${credential.secret}`, cached: false };
    if (!refresh) {
      const cached = this.cache.get(this.registry, scopes);
      if (cached) return { header: `Bearer ${cached}`, cached: true };
    }
    const key = scopes.join(" ");
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchToken(challenge, scopes, credential, refresh);
      this.inflight.set(key, pending);
      void pending.finally(() => this.inflight.delete(key)).catch(() => undefined);
    }
    return { header: `Bearer ${await pending}`, cached: false };
  }

  private resolveCredential(): Promise<Credential | undefined> {
    this.credential ??= this.keychain.resolve(this.registry);
    // A failing source (a broken helper) is reported now and asked again next time.
    this.credential.catch(() => (this.credential = undefined));
    return this.credential;
  }

  private async fetchToken(challenge: Challenge, scopes: readonly string[], credential: Credential | undefined, refresh: boolean): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) {
      throw new RegistryError({ method: "GET", url: `https://${this.registry}/v2/`, status: 401, code: "UNAUTHORIZED", problem: "the Bearer challenge has no realm", hint: "the registry's auth configuration is broken; tell its operator" });
    }
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError({ method: "GET", url: `https://${this.registry}/v2/`, status: 401, code: "UNAUTHORIZED", problem: "the Bearer realm is not a URL", hint: "the registry's auth configuration is broken; tell its operator" });
    }
    if (credential && url.protocol === "http:" && !isLoopbackHost(url.host) && !this.transport.isInsecure(url.host)) {
      throw new ImagespecError("INSECURE_TOKEN_REALM", `${this.registry}'s token endpoint ${safeUrl(url)} is plain HTTP; credentials will not be sent there`, {
        hint: `mark ${url.host} insecure if you trust the network, or fix the registry's token realm to use HTTPS`,
      });
    }
    const service = challenge.params.service;
    let res: HttpResponse;
    if (credential?.kind === "identity-token") {
      // OAuth2 refresh-token grant (docker's token spec); the refresh token is never a URL param.
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: credential.secret, client_id: "imagespec", ...(service ? { service } : {}) });
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      res = await this.transport.request({ method: "POST", url, headers: { "content-type": "application/x-www-form-urlencoded" }, body: Buffer.from(form.toString()) });
    } else {
      if (service) url.searchParams.set("service", service);
      for (const scope of scopes) url.searchParams.append("scope", scope);
      const headers: Record<string, string> = credential ? { authorization: credential.basicAuthorization() } : {};
      res = await this.transport.request({ method: "GET", url, headers, followRedirects: true });
    }
    if (res.status !== 200) {
      const body = await res.text(1 << 20).catch(() => "");
      const rejected = res.status === 401 || res.status === 403;
      throw new RegistryError({
        method: res.method,
        url,
        status: res.status,
        details: parseErrorBody(body),
        code: rejected ? "UNAUTHORIZED" : undefined,
        problem: `token request for ${this.registry} failed`,
        ...(rejected ? { hint: this.credentialHint(credential) } : {}),
      });
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(await res.text(1 << 20)) as typeof parsed;
    } catch {
      throw new RegistryError({ method: res.method, url, status: res.status, code: "TOKEN_INVALID", problem: "the token response is not JSON", hint: "the registry's token endpoint is misbehaving; retry, or tell its operator" });
    }
    const token = typeof parsed.token === "string" && parsed.token ? parsed.token : typeof parsed.access_token === "string" ? parsed.access_token : "";
    if (!token) {
      throw new RegistryError({ method: res.method, url, status: res.status, code: "TOKEN_INVALID", problem: "the token response has no token", hint: "the registry's token endpoint is misbehaving; retry, or tell its operator" });
    }
    const ttl = typeof parsed.expires_in === "number" && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_TTL_SECONDS;
    this.cache.set(this.registry, scopes, token, ttl);
    this.transport.logger?.({
      type: "auth",
      registry: this.registry,
      scheme: "bearer",
      scopes,
      ...(credential ? { source: credential.source } : {}),
      action: refresh ? "token-refresh" : credential ? "token-fetched" : "anonymous-token",
    });
    return token;
  }

  private credentialHint(credential: Credential | undefined): string {
    if (!credential) {
      const reasons = this.keychain.describeMissing(this.registry);
      if (reasons.length > 0) return `no credentials for ${this.registry}: ${reasons.join("; ")}`;
      return `no credentials were found for ${this.registry} (looked in: ${this.keychain.sources.map((s) => s.name).join(", ")}); run \`docker login ${this.registry}\`, configure a credential helper, or pass credentials`;
    }
    const own = this.keychain.rejectedHint(this.registry, credential);
    if (own) return `the credentials for ${this.registry} from ${credential.source} were rejected: ${own}`;
    return `the credentials for ${this.registry} from ${credential.source} were rejected: check the user name and password, run \`docker login ${this.registry}\` again, or check the credential helper`;
  }

  private async unauthorized(res: HttpResponse, sent: Authorization | undefined): Promise<never> {
    const credential = sent ? await this.resolveCredential().catch(() => undefined) : await this.resolveCredential();
    return res.fail({ code: "UNAUTHORIZED", hint: this.credentialHint(credential) });
  }
}

function withAuthorization(req: HttpRequest, auth: Authorization | undefined): HttpRequest {
  if (!auth) return req;
  return { ...req, headers: { ...req.headers, authorization: auth.header } };
}
