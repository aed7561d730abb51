// The image config of a built image: the base's config with the spec's settings laid on top,
// the new layers appended to rootfs, and history that says which step made each layer.
import type { ImageConfig, Platform } from "../oci/index.js";

export interface ConfigSettings {
  /** Set in name order, so the config does not depend on how the spec's env was written. */
  env: Readonly<Record<string, string>>;
  /** Set after `env`, in this order (the spec id goes last). */
  trailingEnv?: readonly (readonly [string, string])[];
  entrypoint?: readonly string[];
  cmd?: readonly string[];
  workdir?: string;
  user?: string;
  labels: Readonly<Record<string, string>>;
}

export interface AddedLayer {
  diffId: string;
  /** What made the layer, shown by `docker history` and `skopeo inspect --config`. */
  createdBy: string;
}

/** The creation time written into configs: fixed, so the same inputs give the same digest. */
export function configCreated(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(".000Z", "Z");
}

/** Env entries keep the base's order; ours replace same-named ones in place and append the rest. */
export function mergeEnv(base: readonly string[], overrides: readonly (readonly [string, string])[]): string[] {
  const result = [...base];
  const position = new Map(result.map((entry, i) => [entry.split("=", 1)[0]!, i]));
  for (const [name, value] of overrides) {
    const entry = `${name}=${value}`;
    const at = position.get(name);
    if (at === undefined) {
      position.set(name, result.length);
      result.push(entry);
    } else {
      result[at] = entry;
    }
  }
  return result;
}

export function buildConfig(
  base: ImageConfig | undefined,
  platform: Platform,
  settings: ConfigSettings,
  added: readonly AddedLayer[],
  epochSeconds: number,
): ImageConfig {
  const created = configCreated(epochSeconds);
  const baseInner = base?.config ?? {};
  const inner: NonNullable<ImageConfig["config"]> = { ...baseInner };
  const sorted = Object.entries(settings.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  inner.Env = mergeEnv(baseInner.Env ?? [], [...sorted, ...(settings.trailingEnv ?? [])]);
  if (settings.entrypoint !== undefined) {
    inner.Entrypoint = [...settings.entrypoint];
    // Like Docker: a new entrypoint drops the base's cmd unless the spec sets one.
    if (settings.cmd === undefined) delete inner.Cmd;
  }
  if (settings.cmd !== undefined) inner.Cmd = [...settings.cmd];
  if (settings.workdir !== undefined) inner.WorkingDir = settings.workdir;
  if (settings.user !== undefined) inner.User = settings.user;
  const labels = { ...(baseInner.Labels ?? {}), ...settings.labels };
  if (Object.keys(labels).length > 0) inner.Labels = Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));

  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    created,
    config: inner,
    rootfs: { type: "layers", diff_ids: [...(base?.rootfs.diff_ids ?? []), ...added.map((l) => l.diffId)] },
    history: [
      ...(base?.history ?? []),
      ...added.map((l) => ({ created, created_by: l.createdBy, comment: "imagespec" })),
      { created, created_by: "imagespec: config", comment: "imagespec", empty_layer: true },
    ],
  };
}
