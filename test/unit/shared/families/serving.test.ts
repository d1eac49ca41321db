import { describe, expect, it } from 'vitest';
import { recommenderFamily } from '../../../../models/recommender/family';
import { servingSignatureProblems } from '../../../../shared/families/serving';

describe('servingSignatureProblems', () => {
  const contract = recommenderFamily.serving;

  it('accepts a signature that matches the contract, and one whose types ORT does not expose', () => {
    const exact = {
      inputs: [
        { name: 'item_ids', type: 'int64', shape: [1, 'L'] },
        { name: 'item_weights', type: 'float32', shape: [1, 'L'] },
      ],
      outputs: [{ name: 'scores', type: 'float32', shape: [1, 300] }],
    };
    const namesOnly = { inputs: [{ name: 'item_ids' }, { name: 'item_weights' }], outputs: [{ name: 'scores' }] };
    expect(servingSignatureProblems(contract, exact)).toEqual([]);
    expect(servingSignatureProblems(contract, namesOnly)).toEqual([]);
  });

  it('names every missing, extra, mistyped or mis-ranked tensor', () => {
    const wrong = {
      inputs: [
        { name: 'item_ids', type: 'int32', shape: [1, 'L'] },
        { name: 'history', type: 'float32', shape: [1, 'L'] },
      ],
      outputs: [{ name: 'scores', type: 'float32', shape: [300] }],
    };
    expect(servingSignatureProblems(contract, wrong)).toEqual([
      "input 'history' is not in the contract (inputs: item_ids, item_weights)",
      "input 'item_ids' is int32, the contract says int64",
      "input 'item_weights' (float32 [1, L]) is missing",
      "output 'scores' has rank 1 [300], the contract says [1, N]",
    ]);
  });
});
