/**
 * A small typed builder for ONNX models over `onnx-proto` (protobufjs 6).
 *
 * Tensors are written as `raw_data` (little-endian bytes), which is what ONNX
 * expects and is much faster to encode than repeated `float_data`.
 *
 * Typical use:
 *
 *   const bytes = buildModel({
 *     inputs: [valueInfo('x', 'float32', [1, 'L'])],
 *     outputs: [valueInfo('y', 'float32', [1, 'L'])],
 *     nodes: [node('Relu', ['x'], ['y'])],
 *     initializers: [],
 *     metadata: { model_family: 'demo' },
 *   });
 */
// onnx-proto is CommonJS: Node's ESM loader only exposes its `default` export.
import onnxProto from 'onnx-proto';
import type { onnx as P } from 'onnx-proto';

/** The onnx-proto namespace (ModelProto, GraphProto, TensorProto, ...). */
export const onnx: typeof P = onnxProto.onnx;

export type ITensorProto = P.ITensorProto;
export type INodeProto = P.INodeProto;
export type IValueInfoProto = P.IValueInfoProto;
export type IAttributeProto = P.IAttributeProto;
export type IModelProto = P.IModelProto;

/** ONNX TensorProto.DataType codes for the element types we use. */
export const ElemType = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
} as const;
export type ElemTypeName = keyof typeof ElemType;

/** Default opset for the standard (ai.onnx) domain. */
export const DEFAULT_OPSET = 17;
/** ONNX IR version written into every model (IR 8 = ONNX 1.10+, supports opset ≤ 17+). */
export const IR_VERSION = 8;
export const MS_DOMAIN = 'com.microsoft';

function product(dims: readonly number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  return p;
}

function checkDims(name: string, dims: readonly number[], length: number): void {
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`Tensor '${name}': invalid dimension ${d} in [${dims.join(', ')}]`);
    }
  }
  const expected = product(dims);
  if (expected !== length) {
    throw new Error(
      `Tensor '${name}': dims [${dims.join(', ')}] need ${expected} elements, got ${length}`,
    );
  }
}

/** View of the bytes of a typed array (no copy). Assumes a little-endian host (x64/arm64). */
function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A float32 initializer/constant tensor. The data is referenced, not copied, until encoding. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array): ITensorProto {
  checkDims(name, dims, data.length);
  return { name, dims: [...dims], dataType: ElemType.float32, rawData: bytesOf(data) };
}

/** An int64 initializer/constant tensor. `number[]` values must be safe integers. */
export function int64Tensor(
  name: string,
  dims: readonly number[],
  data: readonly number[] | BigInt64Array,
): ITensorProto {
  let arr: BigInt64Array;
  if (data instanceof BigInt64Array) {
    arr = data;
  } else {
    arr = new BigInt64Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i] as number;
      if (!Number.isSafeInteger(v)) {
        throw new Error(`Tensor '${name}': int64 value at ${i} is not a safe integer: ${v}`);
      }
      arr[i] = BigInt(v);
    }
  }
  checkDims(name, dims, arr.length);
  return { name, dims: [...dims], dataType: ElemType.int64, rawData: bytesOf(arr) };
}

// ---------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------

const AT = onnx.AttributeProto.AttributeType;

/** An explicitly typed attribute value (use when inference from a JS value is ambiguous). */
export interface TypedAttr {
  readonly __attr: true;
  build(name: string): IAttributeProto;
}

function typed(build: (name: string) => IAttributeProto): TypedAttr {
  return { __attr: true, build };
}

/**
 * Explicit attribute constructors. A plain JS number is inferred as INT when it is an
 * integer and FLOAT otherwise, so write `attr.float(1)` for a float attribute equal to 1.
 */
export const attr = {
  int: (v: number): TypedAttr => typed((name) => ({ name, type: AT.INT, i: v })),
  float: (v: number): TypedAttr => typed((name) => ({ name, type: AT.FLOAT, f: v })),
  string: (v: string): TypedAttr =>
    typed((name) => ({ name, type: AT.STRING, s: new TextEncoder().encode(v) })),
  ints: (v: readonly number[]): TypedAttr => typed((name) => ({ name, type: AT.INTS, ints: [...v] })),
  floats: (v: readonly number[]): TypedAttr =>
    typed((name) => ({ name, type: AT.FLOATS, floats: [...v] })),
  strings: (v: readonly string[]): TypedAttr =>
    typed((name) => ({
      name,
      type: AT.STRINGS,
      strings: v.map((s) => new TextEncoder().encode(s)),
    })),
  tensor: (t: ITensorProto): TypedAttr => typed((name) => ({ name, type: AT.TENSOR, t })),
};

export type AttrValue = number | string | readonly number[] | readonly string[] | TypedAttr;

function isTypedAttr(v: unknown): v is TypedAttr {
  return typeof v === 'object' && v !== null && (v as { __attr?: unknown }).__attr === true;
}

function buildAttr(name: string, v: AttrValue): IAttributeProto {
  if (isTypedAttr(v)) return v.build(name);
  if (typeof v === 'number') {
    return Number.isInteger(v) ? attr.int(v).build(name) : attr.float(v).build(name);
  }
  if (typeof v === 'string') return attr.string(v).build(name);
  if (Array.isArray(v)) {
    if (v.length === 0) return attr.ints([]).build(name);
    if (v.every((x) => typeof x === 'string')) return attr.strings(v as string[]).build(name);
    const nums = v as number[];
    return nums.every((x) => Number.isInteger(x))
      ? attr.ints(nums).build(name)
      : attr.floats(nums).build(name);
  }
  throw new Error(`Unsupported attribute value for '${name}'`);
}

/**
 * A graph node. `inputs` may contain '' for an omitted optional input.
 * `domain` is '' (ai.onnx) by default; use MS_DOMAIN ('com.microsoft') for contrib ops.
 */
export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attrs?: Record<string, AttrValue>,
  domain?: string,
): INodeProto {
  const n: INodeProto = {
    opType,
    input: [...inputs],
    output: [...outputs],
    attribute: attrs ? Object.entries(attrs).map(([k, v]) => buildAttr(k, v)) : [],
  };
  if (domain) n.domain = domain;
  return n;
}

/**
 * A graph input/output declaration. Numeric dims are fixed, string dims are symbolic
 * (e.g. 'L' for a dynamic sequence length).
 */
export function valueInfo(
  name: string,
  elemType: ElemTypeName | number,
  dims: readonly (number | string)[],
): IValueInfoProto {
  const code = typeof elemType === 'number' ? elemType : ElemType[elemType];
  if (code === undefined) throw new Error(`valueInfo '${name}': unknown element type ${elemType}`);
  return {
    name,
    type: {
      tensorType: {
        elemType: code,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

export interface OpsetSpec {
  domain: string;
  version: number;
}

export interface ModelSpec {
  inputs: IValueInfoProto[];
  outputs: IValueInfoProto[];
  nodes: INodeProto[];
  initializers: ITensorProto[];
  /** Defaults to ai.onnx 17; com.microsoft 1 is added automatically when a node uses it. */
  opsets?: OpsetSpec[];
  producer?: string;
  graphName?: string;
  docString?: string;
  /** Written to ModelProto.metadata_props. */
  metadata?: Record<string, string>;
}

/**
 * Checks that every node input is produced before use (graph input, initializer or an
 * earlier node's output) and that every graph output is produced. ONNX requires
 * topologically sorted nodes; catching this here gives a clearer error than ORT's.
 */
function validateGraph(spec: ModelSpec): void {
  const defined = new Set<string>();
  for (const i of spec.inputs) defined.add(i.name ?? '');
  for (const t of spec.initializers) defined.add(t.name ?? '');
  for (const n of spec.nodes) {
    for (const inp of n.input ?? []) {
      if (inp !== '' && !defined.has(inp)) {
        throw new Error(
          `ONNX graph: node ${n.name} (${n.opType}) uses '${inp}' before it is defined ` +
            '(not a graph input, initializer or earlier node output)',
        );
      }
    }
    for (const out of n.output ?? []) {
      if (out !== '' && defined.has(out)) {
        throw new Error(`ONNX graph: value '${out}' is defined twice (node ${n.name})`);
      }
      if (out !== '') defined.add(out);
    }
  }
  for (const o of spec.outputs) {
    if (!defined.has(o.name ?? '')) {
      throw new Error(`ONNX graph: output '${o.name}' is not produced by any node`);
    }
  }
}

/** Encodes a model (ir_version 8) to ONNX protobuf bytes. */
export function buildModel(input: ModelSpec): Uint8Array {
  // Unnamed nodes get deterministic names by position, so the same spec always encodes to the same bytes.
  const spec = { ...input, nodes: input.nodes.map((n, i) => (n.name ? n : { ...n, name: `${n.opType}_${i}` })) };
  validateGraph(spec);
  const opsets: OpsetSpec[] = spec.opsets
    ? spec.opsets.map((o) => ({ ...o }))
    : [{ domain: '', version: DEFAULT_OPSET }];
  const normDomain = (d: string) => (d === 'ai.onnx' ? '' : d);
  const have = new Set(opsets.map((o) => normDomain(o.domain)));
  for (const n of spec.nodes) {
    const d = normDomain(n.domain ?? '');
    if (have.has(d)) continue;
    if (d === '') opsets.push({ domain: '', version: DEFAULT_OPSET });
    else if (d === MS_DOMAIN) opsets.push({ domain: MS_DOMAIN, version: 1 });
    else throw new Error(`ONNX graph: node ${n.name} uses domain '${d}' with no opset given`);
    have.add(d);
  }
  const model: IModelProto = {
    irVersion: IR_VERSION,
    producerName: spec.producer ?? 'omnichannel-ai-stack',
    opsetImport: opsets.map((o) => ({ domain: normDomain(o.domain), version: o.version })),
    graph: {
      name: spec.graphName ?? 'graph',
      node: spec.nodes,
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers,
    },
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  if (spec.docString) model.docString = spec.docString;
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Reads ModelProto.metadata_props from model bytes. onnxruntime-node 1.30 does not expose
 * custom metadata on the session, so this is the way to read it at serving time.
 * Decoding does not copy tensor bytes (protobufjs uses subarray views), so it is cheap.
 */
export function readModelMetadata(bytes: Uint8Array): Record<string, string> {
  const m = onnx.ModelProto.decode(bytes);
  const out: Record<string, string> = {};
  for (const p of m.metadataProps) {
    if (p.key) out[p.key] = p.value ?? '';
  }
  return out;
}
