// Credentials for one registry. The secret parts live in private fields, so printing, logging,
// JSON-encoding or util.inspect-ing a credential shows only who it is for, never the secret.
import { inspect } from "node:util";

export type CredentialKind = "basic" | "identity-token" | "registry-token";

export class Credential {
  readonly kind: CredentialKind;
  /** User name for Basic auth and token requests; `<token>` for identity tokens, as Docker writes it. */
  readonly username: string;
  /** Where the credential came from (`docker-config`, `credential-helper:NAME`, ...), for messages. */
  readonly source: string;
  readonly #secret: string;

  private constructor(kind: CredentialKind, username: string, secret: string, source: string) {
    this.kind = kind;
    this.username = username;
    this.#secret = secret;
    this.source = source;
  }

  /** User name and password (or an access token used as a password, as cloud registries and GHCR do). */
  static basic(username: string, password: string, source = "explicit"): Credential {
    return new Credential("basic", username, password, source);
  }

  /** An OAuth2 refresh token (`identitytoken` in docker config), exchanged at the token endpoint. */
  static identityToken(token: string, source = "explicit", username = "<token>"): Credential {
    return new Credential("identity-token", username, token, source);
  }

  /** A bearer token sent to the registry as is (`registrytoken` in docker config). */
  static registryToken(token: string, source = "explicit"): Credential {
    return new Credential("registry-token", "", token, source);
  }

  /** The password, identity token or registry token. Read only to put it on the wire. */
  get secret(): string {
    return this.#secret;
  }

  /** `Basic base64(user:password)`. */
  basicAuthorization(): string {
    return `Basic ${Buffer.from(`${this.username}:${this.#secret}`, "utf8").toString("base64")}`;
  }

  toString(): string {
    return `Credential(${this.kind}, user ${JSON.stringify(this.username)}, from ${this.source})`;
  }

  toJSON(): Record<string, string> {
    return { kind: this.kind, username: this.username, source: this.source, secret: "[redacted]" };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
