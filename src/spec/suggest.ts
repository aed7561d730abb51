// "Did you mean ...?" for misspelt field names and values. (src/ecr/host.ts has its own copy of the
// distance function because it must not import from src/spec.)

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps each cost 1. */
export function editDistance(a: string, b: string): number {
  const cols = b.length + 1;
  const d: number[] = new Array<number>((a.length + 1) * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j]!;
  for (let i = 0; i <= a.length; i++) d[i * cols] = i;
  for (let j = 0; j <= b.length; j++) d[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1);
      d[i * cols + j] = value;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate closest to `word`, if it is close enough to be a plausible typo: at most a third
 * of the word's length (and at least 1) edits away. Comparison ignores case, `_` and `-`, so
 * `python-version` finds `pythonVersion`.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const key = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  const target = key(word);
  const limit = Math.max(1, Math.floor(target.length / 3));
  let best: { candidate: string; distance: number; prefix: number } | undefined;
  for (const candidate of candidates) {
    const other = key(candidate);
    const distance = editDistance(target, other);
    // On equal distance prefer the longer common prefix: typos happen more often later in a word.
    const prefix = commonPrefix(target, other);
    if (!best || distance < best.distance || (distance === best.distance && prefix > best.prefix)) best = { candidate, distance, prefix };
  }
  return best && best.distance <= limit ? best.candidate : undefined;
}

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** `; did you mean "x"?` or the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const suggestion = closest(word, candidates);
  return suggestion === undefined ? "" : `; did you mean ${JSON.stringify(suggestion)}?`;
}
