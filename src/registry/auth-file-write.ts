// Writing one `auths` entry into a docker/podman auth file (config.json): the rest of the file
// (other registries, credHelpers, credsStore, unknown keys) is kept as it is, the file is replaced
// atomically and is 0600, as `docker login` leaves it.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { ImagespecError } from "../errors.js";

export async function writeAuthFileEntry(file: string, registry: string, username: string, password: string): Promise<void> {
  let config: Record<string, unknown> = {};
  let text: string | undefined;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ImagespecError("AUTH_FILE_UNREADABLE", `cannot read ${file}: ${(error as Error).message}`, { hint: "check the path and its permissions" });
    }
  }
  if (text !== undefined && text.trim() !== "") {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object");
      config = parsed as Record<string, unknown>;
    } catch (error) {
      throw new ImagespecError("AUTH_FILE_INVALID", `${file} is not a docker config (${(error as Error).message}); refusing to overwrite it`, {
        hint: "fix the file, or name another one with --docker-config",
      });
    }
  }
  const auths = typeof config.auths === "object" && config.auths !== null && !Array.isArray(config.auths) ? (config.auths as Record<string, unknown>) : {};
  const previous = typeof auths[registry] === "object" && auths[registry] !== null ? (auths[registry] as Record<string, unknown>) : {};
  const entry: Record<string, unknown> = { ...previous, auth: Buffer.from(`${username}:${password}`, "utf8").toString("base64") };
  delete entry.identitytoken;
  delete entry.registrytoken;
  config = { ...config, auths: { ...auths, [registry]: entry } };
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temp, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600, flag: "wx" });
  await chmod(temp, 0o600);
  await rename(temp, file);
}
