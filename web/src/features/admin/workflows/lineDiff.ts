// A line diff of two texts (longest common subsequence over lines): small
// and exact, enough for workflow definitions (a few hundred lines).
export interface DiffLine {
  op: "same" | "add" | "del";
  text: string;
  /** line number in the old text (same, del) */
  a?: number;
  /** line number in the new text (same, add) */
  b?: number;
}

const MAX_CELLS = 4_000_000; // beyond this, a plain "all removed, all added"

export function lineDiff(oldText: string, newText: string): DiffLine[] {
  const a = oldText.split("\n");
  const b = newText.split("\n");
  // common head and tail cost nothing and keep the table small
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const out: DiffLine[] = [];
  for (let i = 0; i < head; i++) out.push({ op: "same", text: a[i]!, a: i + 1, b: i + 1 });
  const n = am.length;
  const m = bm.length;
  if (n * m > MAX_CELLS) {
    am.forEach((t, i) => out.push({ op: "del", text: t, a: head + i + 1 }));
    bm.forEach((t, j) => out.push({ op: "add", text: t, b: head + j + 1 }));
  } else {
    // lcs[i][j]: the LCS length of am[i..] and bm[j..]
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        lcs[i * w + j] = am[i] === bm[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) {
        out.push({ op: "same", text: am[i]!, a: head + i + 1, b: head + j + 1 });
        i++;
        j++;
      } else if (j < m && (i >= n || lcs[i * w + j + 1]! >= lcs[(i + 1) * w + j]!)) {
        out.push({ op: "add", text: bm[j]!, b: head + j + 1 });
        j++;
      } else {
        out.push({ op: "del", text: am[i]!, a: head + i + 1 });
        i++;
      }
    }
  }
  for (let k = 0; k < tail; k++) {
    const ai = a.length - tail + k;
    const bi = b.length - tail + k;
    out.push({ op: "same", text: a[ai]!, a: ai + 1, b: bi + 1 });
  }
  return out;
}
