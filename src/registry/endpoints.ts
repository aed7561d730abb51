// Registry endpoint mapping: a logical registry host (what references, credentials and auth name)
// reached at another URL (a VPC endpoint, a mirror, a local proxy). Requests go to the endpoint;
// everything else keeps the logical host.
import { ImagespecError } from "../errors.js";
import { checkHost } from "../reference/index.js";

/** Logical host (`host[:port]`) -> endpoint URL (`scheme://host[:port]`). */
export type RegistryEndpoints = Readonly<Record<string, string>>;

export const REGISTRY_ENDPOINTS_ENV = "IMAGESPEC_REGISTRY_ENDPOINTS";

function invalid(message: string): ImagespecError {
  return new ImagespecError("INVALID_REGISTRY_ENDPOINT", message, {
    hint: "write the mapping as HOST=URL, e.g. registry.example.com=https://vpce.example:443 (the URL has a scheme and host, no path)",
  });
}

/** Checks one mapping; returns the logical host (lower-cased) and the endpoint's origin. */
export function checkEndpoint(host: string, endpoint: string): { host: string; origin: string } {
  const logical = host.trim().toLowerCase();
  const problem = checkHost(logical);
  if (problem) throw invalid(`registry endpoint for ${JSON.stringify(host)}: ${problem}`);
  let url: URL;
  try {
    url = new URL(endpoint.trim());
  } catch {
    throw invalid(`registry endpoint for ${logical}: ${JSON.stringify(endpoint)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid(`registry endpoint for ${logical}: ${JSON.stringify(endpoint)} is not http(s)`);
  if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.username !== "" || url.password !== "") {
    throw invalid(`registry endpoint for ${logical}: ${JSON.stringify(endpoint)} has a path, query or user info; only scheme://host[:port] is allowed`);
  }
  return { host: logical, origin: url.origin };
}

/** Parses `host=url,host=url` (the env form) or a list of `host=url` (the flag form). */
export function parseRegistryEndpoints(input: string | readonly string[]): Record<string, string> {
  const items = typeof input === "string" ? input.split(",") : input;
  const out: Record<string, string> = {};
  for (const raw of items) {
    const item = raw.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    if (eq <= 0) throw invalid(`registry endpoint ${JSON.stringify(item)} is not HOST=URL`);
    const { host, origin } = checkEndpoint(item.slice(0, eq), item.slice(eq + 1));
    out[host] = origin;
  }
  return out;
}

/** The validated table, keyed by lower-cased host. */
export function endpointTable(endpoints: RegistryEndpoints | undefined): Map<string, URL> {
  const table = new Map<string, URL>();
  for (const [host, endpoint] of Object.entries(endpoints ?? {})) {
    const checked = checkEndpoint(host, endpoint);
    table.set(checked.host, new URL(checked.origin));
  }
  return table;
}
