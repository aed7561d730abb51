// Docker credential helpers: `docker-credential-<name> get` with the server URL on stdin answers
// `{"ServerURL","Username","Secret"}` on stdout. Username `<token>` means Secret is an identity token.
import { spawn } from "node:child_process";
import { ImagespecError } from "../errors.js";
import { Credential } from "./credential.js";

export interface HelperOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Helpers may show a keychain prompt; give the person time (default 60 s). */
  readonly timeoutMs?: number;
}

export class CredentialHelperError extends ImagespecError {
  constructor(helper: string, server: string, problem: string, hint: string) {
    super("CREDENTIAL_HELPER_FAILED", `credential helper docker-credential-${helper} for ${server}: ${problem}`, { hint });
  }
}

/** Asks a helper for the credentials of `serverUrl`; undefined when it has none. */
export async function runCredentialHelper(helper: string, serverUrl: string, options: HelperOptions = {}): Promise<Credential | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
    throw new CredentialHelperError(helper, serverUrl, "the helper name has characters a program name cannot have", "fix credHelpers/credsStore in your docker config");
  }
  const program = `docker-credential-${helper}`;
  const { code, stdout, stderr, spawnError } = await new Promise<{ code: number | null; stdout: string; stderr: string; spawnError?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn(program, ["get"], { env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: "", stderr: "", spawnError: e });
    });
    child.on("close", (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
    child.stdin.on("error", () => undefined); // a helper that exits without reading stdin is not our failure
    child.stdin.end(serverUrl);
  });
  if (spawnError) {
    const missing = spawnError.code === "ENOENT";
    throw new CredentialHelperError(
      helper,
      serverUrl,
      missing ? `${program} is not on PATH` : `cannot run ${program} (${spawnError.code ?? spawnError.message})`,
      missing ? `install ${program}, or remove "${helper}" from credHelpers/credsStore in your docker config` : `check that ${program} is executable`,
    );
  }
  if (code !== 0) {
    // The protocol's "no credentials" answer; anything else is a helper failure.
    if (/credentials not found|no credentials/i.test(stdout + stderr)) return undefined;
    // Helper output is not echoed: a broken helper might print what it should have kept secret.
    throw new CredentialHelperError(helper, serverUrl, `exited with ${code === null ? "a signal (timed out?)" : `status ${code}`}`, `run \`echo ${serverUrl} | ${program} get\` to see what it says`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new CredentialHelperError(helper, serverUrl, "its answer is not JSON", `run \`echo ${serverUrl} | ${program} get\` to see what it says`);
  }
  const answer = parsed as { Username?: unknown; Secret?: unknown };
  if (typeof answer.Secret !== "string" || answer.Secret === "") return undefined;
  const username = typeof answer.Username === "string" ? answer.Username : "";
  const source = `credential-helper:${helper}`;
  return username === "<token>" ? Credential.identityToken(answer.Secret, source) : Credential.basic(username, answer.Secret, source);
}
