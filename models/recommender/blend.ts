/**
 * Weighted blend of candidates: score = Σ_c weight_c · score_c. The weights (which include each
 * component's scale normalisation) are chosen on the validation split by the evaluation runner, never here.
 * When every component is a linear item-item model (EASE, item-kNN, transition, SLIST, popularity) the
 * blend folds into ONE LinearItemModel (terms concatenated, popularity as a bias) and is exportable within
 * the recommender contract. Otherwise it scores component by component; when every component has an ONNX
 * export (e.g. the GRU next to linear models) the linear ones are folded and the rest composed with them
 * into one ONNX graph computing the same weighted sum (shared/onnx/compose); else it has no toOnnx.
 */
import type { Candidate, TrainData, TrainedCandidate } from '../evaluation/candidate';
import { composeWeightedSum } from '../../shared/onnx/compose';
import { INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, META_FAMILY, META_KIND, META_N_ITEMS, OUTPUT_SCORES, RECOMMENDER_FAMILY } from './contract';
import { buildLinearOnnx, isLinearTrained, type LinearItemModel, type LinearTerm, linearTrained } from './linear';

export interface BlendComponent {
  candidate: Candidate;
  weight: number;
}

/** `model_kind` of a blend composed of a linear part (`c0/`, when it has one) and other ONNX models. */
export const BLEND_KIND = 'blend';

export function foldLinear(parts: { model: LinearItemModel; weight: number }[]): LinearItemModel | undefined {
  if (parts.length === 0 || parts.some((p) => p.model.columnScale)) return undefined;
  const nItems = parts[0]!.model.nItems;
  if (parts.some((p) => p.model.nItems !== nItems)) return undefined;
  const terms: LinearTerm[] = [];
  let bias: Float32Array | undefined;
  for (const { model, weight } of parts) {
    for (const term of model.terms) terms.push({ ...term, weight: term.weight * weight });
    if (model.bias) {
      bias ??= new Float32Array(nItems);
      for (let j = 0; j < nItems; j++) bias[j]! += weight * model.bias[j]!;
    }
  }
  const maxHistory = parts[0]!.model.maxHistory;
  return { nItems, terms, ...(bias ? { bias } : {}), ...(maxHistory !== undefined ? { maxHistory } : {}) };
}

export function blendCandidate(components: readonly BlendComponent[], name = 'blend'): Candidate {
  const active = components.filter((c) => c.weight !== 0);
  if (active.length === 0) throw new Error('blendCandidate: every weight is 0');
  return {
    name,
    async train(data: TrainData): Promise<TrainedCandidate> {
      const trained: TrainedCandidate[] = [];
      for (const c of active) trained.push(await c.candidate.train(data));
      const trainingSeconds = trained.reduce((s, t) => s + t.trainingSeconds, 0);
      const params: Record<string, number | string | boolean> = {
        components: active.map((c, k) => `${trained[k]!.name}×${c.weight.toPrecision(3)}`).join(' + '),
      };
      trained.forEach((t, k) => {
        for (const [key, value] of Object.entries(t.params ?? {})) params[`${t.name}.${key}`] = value;
        params[`${t.name}.weight`] = active[k]!.weight;
      });
      const linearParts = trained.every(isLinearTrained) ? trained.map((t, k) => ({ model: t.linear, weight: active[k]!.weight })) : undefined;
      const folded = linearParts ? foldLinear(linearParts) : undefined;
      if (folded) return linearTrained(name, folded, trainingSeconds, params, { algorithm: 'blend' });
      const blended: TrainedCandidate = {
        name,
        trainingSeconds,
        params,
        async score(history: Int32Array): Promise<Float32Array> {
          const out = new Float32Array(data.nItems);
          for (let k = 0; k < trained.length; k++) {
            const s = await trained[k]!.score(history);
            const w = active[k]!.weight;
            for (let j = 0; j < out.length; j++) out[j]! += w * s[j]!;
          }
          return out;
        },
      };
      if (trained.every((t) => isLinearTrained(t) || typeof t.toOnnx === 'function')) {
        blended.toOnnx = () => mixedOnnx(trained, active.map((c) => c.weight), name, data.nItems);
      }
      return blended;
    },
  };
}

/** One ONNX graph for a blend with non-linear components: the linear ones folded (weight 1), the others composed beside them. */
function mixedOnnx(trained: readonly TrainedCandidate[], weights: readonly number[], name: string, nItems: number): Uint8Array {
  const linear = trained.flatMap((t, k) => (isLinearTrained(t) ? [{ model: t.linear, weight: weights[k]! }] : []));
  const parts: { bytes: Uint8Array; weight: number }[] = [];
  if (linear.length > 0) {
    const folded = foldLinear(linear);
    if (!folded) throw new Error(`blend '${name}': its linear components cannot be folded into one model`);
    parts.push({ bytes: buildLinearOnnx(folded, { algorithm: 'blend-linear-part' }), weight: 1 });
  }
  trained.forEach((t, k) => {
    if (!isLinearTrained(t)) parts.push({ bytes: t.toOnnx!(), weight: weights[k]! });
  });
  return composeWeightedSum(parts, {
    inputs: [INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS],
    output: OUTPUT_SCORES,
    graphName: 'blend',
    metadata: { [META_FAMILY]: RECOMMENDER_FAMILY, [META_KIND]: BLEND_KIND, [META_N_ITEMS]: String(nItems), candidate: name },
  });
}
