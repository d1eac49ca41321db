/**
 * Weighted sum of ONNX models that share their inputs and output: one model file computing
 * Σ_k weight_k · model_k(inputs). Used to serve a validation-chosen blend whose components are not all
 * linear item-item models (e.g. the tfjs GRU next to the folded linear terms) as ONE artifact of the
 * recommender contract. Written by hand (one line why: onnx.compose exists only in Python; nothing in
 * JS merges graphs): every name internal to component k (initializers, node outputs, value infos, node
 * names) is prefixed `c{k}/`; the shared inputs keep their names; component outputs are scaled and added.
 */
import { buildModel, type INodeProto, type ITensorProto, type IValueInfoProto, floatTensor, node, type OpsetSpec, onnx, readModelMetadata } from './graph';

export interface WeightedModel {
  bytes: Uint8Array;
  weight: number;
}

export interface ComposeOptions {
  /** Names of the graph inputs every component reads (kept as they are). */
  inputs: readonly string[];
  /** Name of the output every component produces and the sum is written to. */
  output: string;
  metadata?: Record<string, string>;
  graphName?: string;
}

function hasSubgraph(n: INodeProto): boolean {
  return (n.attribute ?? []).some((a) => a.g || (a.graphs && a.graphs.length > 0));
}

export function composeWeightedSum(parts: readonly WeightedModel[], options: ComposeOptions): Uint8Array {
  if (parts.length === 0) throw new Error('composeWeightedSum: no model to compose');
  const shared = new Set(options.inputs);
  const nodes: INodeProto[] = [];
  const initializers: ITensorProto[] = [];
  const opsets = new Map<string, number>();
  let inputs: IValueInfoProto[] | undefined;
  let outputInfo: IValueInfoProto | undefined;
  const terms: string[] = [];
  parts.forEach((part, k) => {
    const model = onnx.ModelProto.decode(part.bytes);
    const graph = model.graph;
    if (!graph) throw new Error(`composeWeightedSum: component ${k} has no graph`);
    const graphInputs = (graph.input ?? []).filter((v) => !(graph.initializer ?? []).some((t) => t.name === v.name));
    const names = graphInputs.map((v) => v.name ?? '');
    if (names.length !== shared.size || names.some((n) => !shared.has(n))) {
      throw new Error(`composeWeightedSum: component ${k} reads [${names.join(', ')}], expected [${[...shared].join(', ')}]`);
    }
    const out = (graph.output ?? []).find((v) => v.name === options.output);
    if (!out || (graph.output ?? []).length !== 1) throw new Error(`composeWeightedSum: component ${k} must have exactly one output '${options.output}'`);
    inputs ??= graphInputs;
    outputInfo ??= out;
    for (const o of model.opsetImport ?? []) {
      const domain = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
      const version = Number(o.version ?? 0);
      const known = opsets.get(domain);
      // Operator semantics change between opsets: one graph needs one version per domain.
      if (known !== undefined && known !== version) throw new Error(`composeWeightedSum: component ${k} imports opset ${domain || 'ai.onnx'} ${version}, another ${known}`);
      opsets.set(domain, version);
    }
    const rename = (name: string) => (name === '' || shared.has(name) ? name : `c${k}/${name}`);
    for (const t of graph.initializer ?? []) initializers.push({ ...t, name: rename(t.name ?? '') });
    for (const n of graph.node ?? []) {
      if (hasSubgraph(n)) throw new Error(`composeWeightedSum: component ${k} node ${n.name} (${n.opType}) has a subgraph, not supported`);
      nodes.push({ ...n, name: `c${k}/${n.name ?? n.opType}`, input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) });
    }
    initializers.push(floatTensor(`c${k}/blend_weight`, [], new Float32Array([part.weight])));
    nodes.push(node('Mul', [rename(options.output), `c${k}/blend_weight`], [`c${k}/weighted`], undefined));
    terms.push(`c${k}/weighted`);
  });
  let current = terms[0]!;
  for (let k = 1; k < terms.length; k++) {
    nodes.push(node('Add', [current, terms[k]!], [`blend_sum_${k}`]));
    current = `blend_sum_${k}`;
  }
  nodes.push(node('Identity', [current], [options.output]));
  const opsetList: OpsetSpec[] = [...opsets].map(([domain, version]) => ({ domain, version }));
  return buildModel({
    inputs: inputs!,
    outputs: [outputInfo!],
    nodes,
    initializers,
    opsets: opsetList,
    graphName: options.graphName ?? 'weighted_sum',
    producer: 'onnx-compose',
    metadata: {
      ...Object.fromEntries(parts.flatMap((p, k) => Object.entries(readModelMetadata(p.bytes)).map(([key, v]) => [`c${k}.${key}`, v]))),
      ...(options.metadata ?? {}),
    },
  });
}
