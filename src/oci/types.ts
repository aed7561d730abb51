// OCI image-spec data structures: descriptors, manifests, indexes, image configs, platforms.
import { ImagespecError } from "../errors.js";

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean; author?: string }[];
}

export class PlatformError extends ImagespecError {
  constructor(input: string, problem: string) {
    super("INVALID_PLATFORM", `invalid platform ${JSON.stringify(input)}: ${problem}`, {
      hint: "write a platform as os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8",
    });
  }
}

const ARCH_ALIASES: Record<string, string> = { x86_64: "amd64", x86: "386", aarch64: "arm64", armhf: "arm", armel: "arm" };
const KNOWN_OS = new Set(["linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "aix", "illumos", "plan9", "js", "wasip1"]);
const KNOWN_ARCH = new Set(["amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64", "mipsle", "mips", "loong64", "wasm"]);

/** Parses `os/arch[/variant]`, normalising architecture aliases (`x86_64` -> `amd64`). */
export function parsePlatform(input: string): Platform {
  const parts = input.trim().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new PlatformError(input, "expected os/arch or os/arch/variant");
  }
  const os = parts[0]!.toLowerCase();
  const rawArch = parts[1]!.toLowerCase();
  const architecture = ARCH_ALIASES[rawArch] ?? rawArch;
  if (!KNOWN_OS.has(os)) throw new PlatformError(input, `unknown os ${JSON.stringify(os)}`);
  if (!KNOWN_ARCH.has(architecture)) {
    throw new PlatformError(input, `unknown architecture ${JSON.stringify(rawArch)} (known: ${[...KNOWN_ARCH].join(", ")})`);
  }
  const platform: Platform = { os, architecture };
  let variant = parts[2]?.toLowerCase();
  if (rawArch === "armhf" && variant === undefined) variant = "v7";
  if (rawArch === "armel" && variant === undefined) variant = "v6";
  if (variant !== undefined) {
    if (!/^v\d+$/.test(variant)) throw new PlatformError(input, `variant ${JSON.stringify(variant)} should look like v7 or v8`);
    platform.variant = variant;
  }
  return platform;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/** Canonical form for comparison: arm64 without a variant means v8. */
function canonical(p: Platform): string {
  const variant = p.variant ?? (p.architecture === "arm64" ? "v8" : "");
  return `${p.os}/${p.architecture}/${variant}`;
}

/** True when an index entry's platform satisfies the wanted platform. */
export function platformMatches(wanted: Platform, candidate: Platform | undefined): boolean {
  if (!candidate) return false;
  if (wanted.variant === undefined && wanted.architecture !== "arm64") {
    return candidate.os === wanted.os && candidate.architecture === wanted.architecture;
  }
  return canonical(candidate) === canonical(wanted);
}
