/**
 * Content model for cold-start items: product titles/descriptions → TF-IDF vectors, cosine
 * similarity. Used where the collaborative model knows nothing about an item (new items).
 *
 * Tokenisation: NFKC + lower case; Chinese (Han) runs are segmented into words with the built-in
 * `Intl.Segmenter('zh', { granularity: 'word' })` (ICU's dictionary segmenter — Node's full-icu
 * build has it; checked at load, see ZH_WORD_SEGMENTATION), other scripts are split on non-letters.
 * If this Node lacks the Chinese dictionary, Han runs fall back to character bigrams.
 *
 * Weights: sublinear tf (1 + ln tf) × smooth idf (ln((1+N)/(1+df)) + 1), rows L2-normalised (the
 * scikit-learn TfidfVectorizer defaults with sublinear_tf). Stored as CSR rows plus an inverted index,
 * both typed arrays: 50k short titles take a few MB.
 */

const HAN = /\p{Script=Han}/u;
const HAN_RUN = /\p{Script=Han}+/gu;
const NON_WORD = /[^\p{L}\p{N}]+/u;
const ASCII_NON_WORD = /[^a-z0-9]+/;
const STOPWORDS = new Set(['a', 'an', 'and', 'the', 'of', 'for', 'with', 'in', 'on', 'to', 'by', 'or', 'x', '的', '和', '与']);

function hasDictionarySegmenter(): boolean {
  try {
    const words = [...new Intl.Segmenter('zh', { granularity: 'word' }).segment('我们喜欢绿茶')].filter((s) => s.isWordLike).map((s) => s.segment);
    // A dictionary segmenter splits into words; a fallback gives one segment per character or one for all.
    return words.length >= 2 && words.length < 6;
  } catch {
    return false;
  }
}

/** Whether Chinese word segmentation by Intl.Segmenter works on this runtime (else character bigrams). */
export const ZH_WORD_SEGMENTATION = hasDictionarySegmenter();
const zhSegmenter = ZH_WORD_SEGMENTATION ? new Intl.Segmenter('zh', { granularity: 'word' }) : undefined;

function hanTokens(run: string, out: string[]): void {
  if (zhSegmenter) {
    for (const s of zhSegmenter.segment(run)) if (s.isWordLike && !STOPWORDS.has(s.segment)) out.push(s.segment);
    return;
  }
  const chars = [...run];
  if (chars.length === 1) out.push(run);
  for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i]! + chars[i + 1]!);
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Terms of a text: words of any script, Chinese segmented into words. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  if (isAscii(text)) {
    // Fast path (most catalogues): ASCII needs no Unicode normalisation.
    for (const word of text.toLowerCase().split(ASCII_NON_WORD)) if (word.length > 0 && !STOPWORDS.has(word)) out.push(word);
    return out;
  }
  const normalised = text.normalize('NFKC').toLowerCase();
  const push = (part: string) => {
    for (const word of part.split(NON_WORD)) if (word.length > 0 && !STOPWORDS.has(word)) out.push(word);
  };
  if (!HAN.test(normalised)) {
    push(normalised);
    return out;
  }
  let last = 0;
  for (const match of normalised.matchAll(HAN_RUN)) {
    push(normalised.slice(last, match.index));
    hanTokens(match[0], out);
    last = match.index + match[0].length;
  }
  push(normalised.slice(last));
  return out;
}

export interface TfidfDocument {
  id: string;
  text: string;
}

export interface Similar {
  /** Document position in the index. */
  doc: number;
  score: number;
}

const bySimilarity = (a: Similar, b: Similar) => b.score - a.score || a.doc - b.doc;

/** A fitted TF-IDF index over a fixed set of documents. */
export class TfidfIndex {
  private acc: Float64Array | undefined;
  private touched: Int32Array | undefined;

  private constructor(
    readonly ids: string[],
    readonly vocabulary: Map<string, number>,
    readonly idf: Float32Array,
    /** CSR rows: terms and L2-normalised weights of each document. */
    private readonly rowOffsets: Int32Array,
    private readonly rowTerms: Int32Array,
    private readonly rowWeights: Float32Array,
    /** Inverted index: documents and weights of each term. */
    private readonly postOffsets: Int32Array,
    private readonly postDocs: Int32Array,
    private readonly postWeights: Float32Array,
    readonly position: Map<string, number>,
  ) {}

  static fit(docs: readonly TfidfDocument[]): TfidfIndex {
    const vocabulary = new Map<string, number>();
    const df: number[] = [];
    const docTerms: Map<number, number>[] = [];
    for (const doc of docs) {
      const tf = new Map<number, number>();
      for (const token of tokenize(doc.text)) {
        let t = vocabulary.get(token);
        if (t === undefined) {
          t = vocabulary.size;
          vocabulary.set(token, t);
          df.push(0);
        }
        tf.set(t, (tf.get(t) ?? 0) + 1);
      }
      for (const t of tf.keys()) df[t]! += 1;
      docTerms.push(tf);
    }
    const n = docs.length;
    const idf = Float32Array.from(df, (d) => Math.log((1 + n) / (1 + d)) + 1);
    const rowOffsets = new Int32Array(n + 1);
    for (let d = 0; d < n; d++) rowOffsets[d + 1] = rowOffsets[d]! + docTerms[d]!.size;
    const nnz = rowOffsets[n]!;
    const rowTerms = new Int32Array(nnz);
    const rowWeights = new Float32Array(nnz);
    const postCounts = new Int32Array(vocabulary.size + 1);
    for (let d = 0; d < n; d++) {
      let p = rowOffsets[d]!;
      let norm = 0;
      for (const [t, count] of docTerms[d]!) {
        const w = (1 + Math.log(count)) * idf[t]!;
        rowTerms[p] = t;
        rowWeights[p] = w;
        norm += w * w;
        postCounts[t + 1]! += 1;
        p++;
      }
      const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let q = rowOffsets[d]!; q < p; q++) rowWeights[q]! *= inv;
    }
    for (let t = 0; t < vocabulary.size; t++) postCounts[t + 1]! += postCounts[t]!;
    const postOffsets = postCounts;
    const fill = postOffsets.slice(0, vocabulary.size);
    const postDocs = new Int32Array(nnz);
    const postWeights = new Float32Array(nnz);
    for (let d = 0; d < n; d++) {
      for (let q = rowOffsets[d]!; q < rowOffsets[d + 1]!; q++) {
        const slot = fill[rowTerms[q]!]!++;
        postDocs[slot] = d;
        postWeights[slot] = rowWeights[q]!;
      }
    }
    const ids = docs.map((d) => d.id);
    return new TfidfIndex(ids, vocabulary, idf, rowOffsets, rowTerms, rowWeights, postOffsets, postDocs, postWeights, new Map(ids.map((id, i) => [id, i])));
  }

  get size(): number {
    return this.ids.length;
  }

  /** The sparse vector of a document: parallel term ids and weights. */
  vector(doc: number): { terms: Int32Array; weights: Float32Array } {
    const from = this.rowOffsets[doc]!;
    const to = this.rowOffsets[doc + 1]!;
    return { terms: this.rowTerms.subarray(from, to), weights: this.rowWeights.subarray(from, to) };
  }

  /** A query vector for a new text (not in the index), L2-normalised with the index's idf. */
  transform(text: string): Map<number, number> {
    const tf = new Map<number, number>();
    for (const token of tokenize(text)) {
      const t = this.vocabulary.get(token);
      if (t !== undefined) tf.set(t, (tf.get(t) ?? 0) + 1);
    }
    let norm = 0;
    for (const [t, count] of tf) {
      const w = (1 + Math.log(count)) * this.idf[t]!;
      tf.set(t, w);
      norm += w * w;
    }
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (const [t, w] of tf) tf.set(t, w * inv);
    return tf;
  }

  /** Dot product of an indexed document with a query vector (cosine when the query is normalised). */
  dot(doc: number, query: ReadonlyMap<number, number>): number {
    let dot = 0;
    for (let p = this.rowOffsets[doc]!; p < this.rowOffsets[doc + 1]!; p++) dot += (query.get(this.rowTerms[p]!) ?? 0) * this.rowWeights[p]!;
    return dot;
  }

  /** Cosine of two indexed documents. */
  cosine(a: number, b: number): number {
    const va = this.vector(a);
    const vb = this.vector(b);
    let dot = 0;
    for (let i = 0; i < va.terms.length; i++) {
      const t = va.terms[i]!;
      for (let j = 0; j < vb.terms.length; j++) if (vb.terms[j] === t) dot += va.weights[i]! * vb.weights[j]!;
    }
    return dot;
  }

  /**
   * Documents most similar to a query vector (cosine, best first), through the inverted index: only
   * documents sharing a term are touched. `accept` filters candidates (e.g. in stock, not the item itself).
   */
  search(query: ReadonlyMap<number, number>, k: number, accept: (doc: number) => boolean = () => true): Similar[] {
    // One dense accumulator per index, reset through the touched list (no per-query allocation of N).
    this.acc ??= new Float64Array(this.ids.length);
    this.touched ??= new Int32Array(this.ids.length);
    const acc = this.acc;
    const touched = this.touched;
    let m = 0;
    for (const [t, qw] of query) {
      for (let p = this.postOffsets[t]!; p < this.postOffsets[t + 1]!; p++) {
        const d = this.postDocs[p]!;
        if (acc[d] === 0) touched[m++] = d;
        // Query and document weights are positive, so a touched entry never returns to 0 (MIN_VALUE keeps
        // a zero-weight term from re-listing the document).
        acc[d]! += qw * this.postWeights[p]! || Number.MIN_VALUE;
      }
    }
    const hits: Similar[] = [];
    let floor = 0;
    for (let i = 0; i < m; i++) {
      const doc = touched[i]!;
      const score = acc[doc]!;
      acc[doc] = 0;
      if (score >= floor && score > 0 && accept(doc)) {
        hits.push({ doc, score });
        if (hits.length >= 4 * k + 32) {
          hits.sort(bySimilarity);
          hits.length = k;
          floor = hits[k - 1]!.score;
        }
      }
    }
    hits.sort(bySimilarity);
    return hits.slice(0, k);
  }

  /** Documents most similar to an indexed document (itself excluded). */
  similar(doc: number, k: number, accept: (doc: number) => boolean = () => true): Similar[] {
    const { terms, weights } = this.vector(doc);
    const query = new Map<number, number>();
    for (let i = 0; i < terms.length; i++) query.set(terms[i]!, weights[i]!);
    return this.search(query, k, (d) => d !== doc && accept(d));
  }

  /** Weighted sum of indexed documents' vectors (e.g. a shopper's recent items), for `search`. */
  profile(docs: readonly { doc: number; weight: number }[]): Map<number, number> {
    const query = new Map<number, number>();
    for (const { doc, weight } of docs) {
      const { terms, weights } = this.vector(doc);
      for (let i = 0; i < terms.length; i++) query.set(terms[i]!, (query.get(terms[i]!) ?? 0) + weight * weights[i]!);
    }
    return query;
  }
}
