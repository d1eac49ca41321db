import { describe, expect, it } from 'vitest';
import { buildExamples, leftPaddedWindow, shuffleInPlace, splitForValidation } from '../../../../models/sequence/examples';
import { mulberry32 } from '../../../../shared/random';

describe('leftPaddedWindow', () => {
  it('shifts items to network ids (+1) and left-pads short histories with 0', () => {
    expect(Array.from(leftPaddedWindow([4, 0], 4))).toEqual([0, 0, 5, 1]);
  });

  it('keeps the last maxLength items of long histories', () => {
    expect(Array.from(leftPaddedWindow([1, 2, 3, 4, 5], 3))).toEqual([4, 5, 6]);
  });
});

describe('buildExamples', () => {
  it('makes one (prefix → next) pair per position after the first', () => {
    // Prepare
    const sequences = [Int32Array.from([1, 2, 3]), Int32Array.from([7]), Int32Array.from([5, 6])];

    // Act
    const ex = buildExamples(sequences, 8, 2);

    // Assess
    expect(ex.count).toBe(3);
    expect(Array.from(ex.inputs)).toEqual([0, 2, 2, 3, 0, 6]);
    expect(Array.from(ex.targets)).toEqual([2, 3, 6]);
  });

  it('keeps only the last pair of each sequence with lastOnly', () => {
    // Act
    const ex = buildExamples([Int32Array.from([1, 2, 3])], 8, 2, true);

    // Assess
    expect(Array.from(ex.inputs)).toEqual([2, 3]);
    expect(Array.from(ex.targets)).toEqual([3]);
  });

  it('rejects items outside [0, nItems)', () => {
    expect(() => buildExamples([Int32Array.from([0, -1])], 8, 2)).toThrow(/item -1 is not in \[0, 8\)/);
  });
});

describe('splitForValidation', () => {
  it('moves the last transition of the chosen sequences to validation and nothing else', () => {
    // Prepare
    const sequences = Array.from({ length: 200 }, (_, i) => Int32Array.from([i, i + 1, i + 2, i + 3]));

    // Act
    const { train, validation } = splitForValidation(sequences, 0.25, 1);

    // Assess
    expect(validation.length).toBeGreaterThan(20);
    expect(validation.length).toBeLessThan(80);
    expect(train).toHaveLength(200);
    const shortened = train.filter((s) => s.length === 3);
    expect(shortened).toHaveLength(validation.length);
    expect(splitForValidation(sequences, 0.25, 1).validation).toEqual(validation); // reproducible
  });
});

describe('shuffleInPlace', () => {
  it('permutes deterministically for a seed', () => {
    // Prepare
    const a = Int32Array.from({ length: 50 }, (_, i) => i);
    const b = Int32Array.from({ length: 50 }, (_, i) => i);

    // Act
    shuffleInPlace(a, mulberry32(9));
    shuffleInPlace(b, mulberry32(9));

    // Assess
    expect(a).toEqual(b);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
