// The oldest Node imagespec runs on: undici 8 needs 22.19, and the AWS SDK drops older lines.
export const MINIMUM_NODE = "22.19.0";

/** Why this Node cannot run imagespec, or undefined when it can. */
export function nodeVersionProblem(version: string): string | undefined {
  const have = version.replace(/^v/, "").split(".").map(Number);
  const need = MINIMUM_NODE.split(".").map(Number);
  for (let i = 0; i < need.length; i++) {
    const a = have[i] ?? 0;
    const b = need[i]!;
    if (Number.isNaN(a) || a < b) return `Node ${version} is too old: imagespec needs Node >= ${MINIMUM_NODE} (the 22 or 24 LTS line)`;
    if (a > b) return undefined;
  }
  return undefined;
}
