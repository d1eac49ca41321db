import { describe, expect, it } from 'vitest';
import { TfidfIndex, tokenize, ZH_WORD_SEGMENTATION } from '../../../../models/content/tfidf';

describe('tokenize', () => {
  it('segments Chinese titles into words with Intl.Segmenter (this Node has the ICU dictionary)', () => {
    // Act
    const tokens = tokenize('有机茉莉花绿茶 250克');

    // Assess
    expect(ZH_WORD_SEGMENTATION).toBe(true);
    expect(tokens).toEqual(['有机', '茉莉花', '绿茶', '250', '克']);
  });

  it('splits mixed Latin/Chinese text, lower-cases, NFKC-normalises full-width forms and drops stop words', () => {
    // Act
    const tokens = tokenize('Ｏｒｇａｎｉｃ Green Tea and 陶瓷茶壶 — the Gift-Set');

    // Assess
    expect(tokens).toEqual(['organic', 'green', 'tea', '陶瓷', '茶壶', 'gift', 'set']);
  });

  it('keeps ASCII words and numbers with units', () => {
    expect(tokenize('Cast-Iron Wok 28cm (Set of 3)')).toEqual(['cast', 'iron', 'wok', '28cm', 'set', '3']);
  });
});

describe('TfidfIndex', () => {
  const docs = [
    { id: 'a', text: '有机茉莉花绿茶 250克' },
    { id: 'b', text: '茉莉花绿茶 茶包 20包' },
    { id: 'c', text: '手工陶瓷茶壶' },
    { id: 'd', text: 'Organic Jasmine Green Tea 250g' },
    { id: 'e', text: 'Jasmine Green Tea Bags' },
    { id: 'f', text: 'Cast-Iron Frying Pan 28cm' },
  ];
  const index = TfidfIndex.fit(docs);

  it('finds the Chinese title that shares segmented words', () => {
    // Act
    const similar = index.similar(index.position.get('a') as number, 2).map((s) => index.ids[s.doc]);

    // Assess
    expect(similar[0]).toBe('b');
    expect(similar).not.toContain('a');
  });

  it('cosine scores equal a brute-force computation of the same TF-IDF weights', () => {
    // Prepare: sublinear tf × smooth idf, L2-normalised (what fit documents)
    const n = docs.length;
    const tokenised = docs.map((d) => tokenize(d.text));
    const df = new Map<string, number>();
    for (const tokens of tokenised) for (const t of new Set(tokens)) df.set(t, (df.get(t) ?? 0) + 1);
    const vec = (tokens: string[]) => {
      const tf = new Map<string, number>();
      for (const t of tokens) tf.set(t, (tf.get(t) ?? 0) + 1);
      const v = new Map([...tf].map(([t, c]) => [t, (1 + Math.log(c)) * (Math.log((1 + n) / (1 + (df.get(t) ?? 0))) + 1)]));
      const norm = Math.sqrt([...v.values()].reduce((s, w) => s + w * w, 0));
      return new Map([...v].map(([t, w]) => [t, w / norm]));
    };
    const vd = vec(tokenised[3] as string[]);
    const ve = vec(tokenised[4] as string[]);
    const want = [...vd].reduce((s, [t, w]) => s + w * (ve.get(t) ?? 0), 0);

    // Act
    const hits = index.similar(3, 5);

    // Assess
    expect(hits[0]?.doc).toBe(4);
    expect(hits[0]?.score).toBeCloseTo(want, 5);
    expect(index.cosine(3, 4)).toBeCloseTo(want, 5);
  });

  it('filters candidates and returns nothing for a text sharing no term', () => {
    // Act
    const filtered = index.similar(3, 5, (d) => index.ids[d] !== 'e').map((s) => index.ids[s.doc]);
    const none = index.search(index.transform('bicycle helmet'), 5);

    // Assess
    expect(filtered).not.toContain('e');
    expect(none).toEqual([]);
  });

  it('scores a shopper profile (weighted documents) against indexed items', () => {
    // Prepare
    const profile = index.profile([{ doc: 0, weight: 1 }]);

    // Act / Assess
    expect(index.dot(1, profile)).toBeGreaterThan(index.dot(5, profile));
    expect(index.dot(5, profile)).toBe(0);
  });
});
