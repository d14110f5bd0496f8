// "Did you mean": the known name closest to a misspelt one, for error
// messages that name the valid choices.

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidates a typo most likely meant (case-insensitive), closest first; none if none is close enough. */
export function closestAll(word: string, candidates: readonly string[]): string[] {
  const w = word.toLowerCase();
  // One edit for short names, two for longer ones: "msx" -> "msix", "cuont" -> "count".
  const limit = w.length <= 4 ? 1 : 2;
  // A name cut short ("gap" for "gapMs") is as close as one typo.
  const score = (c: string) => Math.min(distance(w, c), w.length >= 3 && c.startsWith(w) ? 1 : Infinity);
  const scored = candidates.map((c) => ({ c, d: score(c.toLowerCase()) })).filter((x) => x.d <= limit);
  const best = Math.min(...scored.map((x) => x.d));
  return scored.filter((x) => x.d === best).map((x) => x.c);
}

/** The candidate a typo most likely meant, if there is one. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  return closestAll(word, candidates)[0];
}

/** ' (did you mean "count"?)', ' (did you mean "msi" or "msix"?)' or ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closestAll(word, candidates).slice(0, 3);
  return c.length ? ` (did you mean ${c.map((x) => `"${x}"`).join(' or ')}?)` : '';
}
