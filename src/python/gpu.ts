// `cuda` and `cudnn` for the native builder: NVIDIA's runtime wheels on PyPI, chosen for the
// target platform like any other wheel (manylinux x86_64 and aarch64; nothing runs, no conda).
// The CUDA major picks the wheel family (-cu11, -cu12); the version given is a prefix of the
// wheel's version, which carries NVIDIA's build number (CUDA 12.4 -> nvidia-cuda-runtime-cu12
// 12.4.127, cuDNN 9.1 -> nvidia-cudnn-cu12 9.1.0.70). On the Dockerfile path the same fields become
// conda packages (cuda=<version>, cudnn=<version>), as flytekit's builder did.

// The spec's schema (src/spec/schema.ts) admits the majors with wheels on PyPI: CUDA 11 and 12,
// cuDNN 8 and 9.

/** `12.4.1` -> `==12.4.*`; `12` -> `==12.*`. A patch level is left out: the wheels number their builds instead. */
function prefixPin(version: string, parts: number): string {
  return `==${version.trim().split(".").slice(0, parts).join(".")}.*`;
}

/** The PEP 508 requirements that give a native image the CUDA runtime and cuDNN of the spec. */
export function gpuRequirements(cuda: string | undefined, cudnn: string | undefined): string[] {
  if (cuda === undefined) return [];
  const major = cuda.trim().split(".")[0]!;
  const requirements = [`nvidia-cuda-runtime-cu${major}${prefixPin(cuda, 2)}`];
  // cuDNN's own version, to the precision given (8.9.2 picks 8.9.2.x).
  if (cudnn !== undefined) requirements.push(`nvidia-cudnn-cu${major}${prefixPin(cudnn, 3)}`);
  return requirements;
}

/** conda packages for the Dockerfile path (flytekit's `cuda=<version>`, `cudnn=<version>`). */
export function gpuCondaPackages(cuda: string | undefined, cudnn: string | undefined): string[] {
  return [...(cuda !== undefined ? [`cuda=${cuda.trim()}`] : []), ...(cudnn !== undefined ? [`cudnn=${cudnn.trim()}`] : [])];
}
