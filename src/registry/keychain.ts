// Where credentials come from: an ordered chain of sources, the first that knows a registry wins
// (go-containerregistry's authn.MultiKeychain). No source knowing it means anonymous access.
//
// Default order:
//   1. explicit credentials passed in options            ("explicit")
//   2. providers passed in options, e.g. a registry vendor's token source (src/registry/vendor.ts;
//      `defaultKeychain({ providers: [source] })`, or `keychain.insertAfter("explicit", source)`)
//   3. $DOCKER_CONFIG/config.json, default ~/.docker/config.json ("docker-config")
//   4. $REGISTRY_AUTH_FILE                                 ("registry-auth-file")
//   5. ${XDG_RUNTIME_DIR}/containers/auth.json             ("containers-auth")
//   6. ~/.config/containers/auth.json                      ("containers-auth-home")
import { homedir } from "node:os";
import { join } from "node:path";
import { authKeyHost, credentialFromAuthFile } from "./auth-file.js";
import { Credential } from "./credential.js";

export interface CredentialSource {
  readonly name: string;
  /** Credentials for a registry host (`host[:port]`, Docker Hub as `docker.io`), or undefined. */
  resolve(registry: string): Promise<Credential | undefined>;
  /**
   * Called when the registry refused a credential this source gave (401, or 403 for registries
   * that answer an expired token that way). The source drops what it cached and
   * returns true when asking it again may give a credential that works (a cached token that may
   * have expired); false when it would give the same answer (a token it fetched a moment ago).
   */
  invalidate?(registry: string, credential: Credential): Promise<boolean> | boolean;
  /** Why the source had no credential for a registry it is responsible for (for the 401 hint). */
  describeMissing?(registry: string): string | undefined;
  /**
   * What to do when the registry refused this source's credential, for sources that are not
   * docker's files (a token minted by a cloud API): `docker login` would not help there.
   */
  rejectedHint?(registry: string): string | undefined;
}

export class Keychain {
  private readonly chain: CredentialSource[];

  constructor(sources: readonly CredentialSource[] = []) {
    this.chain = [...sources];
  }

  get sources(): readonly CredentialSource[] {
    return this.chain;
  }

  /** Puts a source first: it is asked before every other. */
  prepend(source: CredentialSource): this {
    this.chain.unshift(source);
    return this;
  }

  append(source: CredentialSource): this {
    this.chain.push(source);
    return this;
  }

  /** Puts a source right after the named one (first if that name is absent). */
  insertAfter(name: string, source: CredentialSource): this {
    const at = this.chain.findIndex((s) => s.name === name);
    this.chain.splice(at + 1, 0, source);
    return this;
  }

  /** Tells the source a credential came from that the registry refused it; true when it is worth asking again. */
  async invalidate(registry: string, credential: Credential): Promise<boolean> {
    const source = this.chain.find((s) => s.name === credential.source);
    if (!source?.invalidate) return false;
    return source.invalidate(registry, credential);
  }

  /** The hint of the source a refused credential came from, if that source has its own. */
  rejectedHint(registry: string, credential: Credential): string | undefined {
    return this.chain.find((s) => s.name === credential.source)?.rejectedHint?.(registry);
  }

  /** What the sources say about having nothing for a registry (e.g. "no cloud credentials: ..."). */
  describeMissing(registry: string): string[] {
    return this.chain.flatMap((s) => {
      const why = s.describeMissing?.(registry);
      return why ? [why] : [];
    });
  }

  /** The first source's answer; undefined means go anonymous. */
  async resolve(registry: string): Promise<Credential | undefined> {
    for (const source of this.chain) {
      const credential = await source.resolve(registry);
      if (credential) return credential;
    }
    return undefined;
  }
}

export type ExplicitCredential = Credential | { readonly username: string; readonly password: string };

/** Credentials given in code or on the command line, keyed by registry host. */
export function explicitCredentials(byRegistry: Readonly<Record<string, ExplicitCredential>>): CredentialSource {
  const table = new Map<string, Credential>();
  for (const [key, value] of Object.entries(byRegistry)) {
    table.set(authKeyHost(key), value instanceof Credential ? value : Credential.basic(value.username, value.password, "explicit"));
  }
  return { name: "explicit", resolve: async (registry) => table.get(authKeyHost(registry)) };
}

/** One docker/podman-format auth file; the path is found at lookup time so env changes apply. */
export function authFileSource(name: string, path: (env: NodeJS.ProcessEnv) => string | undefined, env?: NodeJS.ProcessEnv): CredentialSource {
  return {
    name,
    resolve: async (registry) => {
      const environment = env ?? process.env;
      const file = path(environment);
      return file ? credentialFromAuthFile(file, registry, environment) : undefined;
    },
  };
}

export interface DefaultKeychainOptions {
  /** Explicit credentials by registry host; asked first. */
  readonly credentials?: Readonly<Record<string, ExplicitCredential>>;
  /** Extra sources asked after explicit credentials and before config files (the vendors' slot). */
  readonly providers?: readonly CredentialSource[];
  /** Environment to read DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, HOME and PATH from (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

export function defaultKeychain(options: DefaultKeychainOptions = {}): Keychain {
  const env = options.env;
  return new Keychain([
    explicitCredentials(options.credentials ?? {}),
    ...(options.providers ?? []),
    authFileSource("docker-config", (e) => join(e.DOCKER_CONFIG || join(home(e), ".docker"), "config.json"), env),
    authFileSource("registry-auth-file", (e) => e.REGISTRY_AUTH_FILE || undefined, env),
    authFileSource("containers-auth", (e) => (e.XDG_RUNTIME_DIR ? join(e.XDG_RUNTIME_DIR, "containers", "auth.json") : undefined), env),
    authFileSource("containers-auth-home", (e) => join(home(e), ".config", "containers", "auth.json"), env),
  ]);
}
