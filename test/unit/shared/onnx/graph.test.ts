import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attr, buildModel, floatTensor, int64Tensor, node, onnx, readModelMetadata, valueInfo } from '../../../../shared/onnx/graph';
import { createSession, describeSession, runChecked } from '../../../../shared/onnx/session';

function addModel(): Uint8Array {
  return buildModel({
    inputs: [valueInfo('x', 'float32', [1, 'L'])],
    outputs: [valueInfo('y', 'float32', [1, 'L'])],
    initializers: [floatTensor('two', [], new Float32Array([2]))],
    nodes: [node('Mul', ['x', 'two'], ['y'])],
    metadata: { model_family: 'demo', version: '3' },
  });
}

describe('graph builder', () => {
  it('encodes a model with ir_version 8, opset 17 and metadata_props', () => {
    // Prepare
    const bytes = addModel();

    // Act
    const decoded = onnx.ModelProto.decode(bytes);

    // Assess
    expect(Number(decoded.irVersion)).toBe(8);
    expect(decoded.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    expect(readModelMetadata(bytes)).toEqual({ model_family: 'demo', version: '3' });
    expect(decoded.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.[1]?.dimParam).toBe('L');
  });

  it('encodes the same spec to the same bytes', () => {
    // Prepare / Act
    const a = addModel();
    const b = addModel();

    // Assess
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('adds the com.microsoft opset when a contrib node is used', () => {
    // Prepare
    const spec = {
      inputs: [valueInfo('a', 'float32', [2, 2])],
      outputs: [valueInfo('b', 'float32', [2, 2])],
      initializers: [],
      nodes: [node('Inverse', ['a'], ['b'], undefined, 'com.microsoft')],
    };

    // Act
    const decoded = onnx.ModelProto.decode(buildModel(spec));

    // Assess
    expect(decoded.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([
      ['', 17],
      ['com.microsoft', 1],
    ]);
  });

  it('infers attribute types and supports explicit ones', () => {
    // Prepare / Act
    const n = node('X', ['a'], ['b'], { i: 1, f: 0.5, s: 'abc', is: [1, 2], fs: [0.5, 1], ef: attr.float(1) });
    const byName = Object.fromEntries((n.attribute ?? []).map((a) => [a.name, a]));

    // Assess
    const T = onnx.AttributeProto.AttributeType;
    expect(byName.i?.type).toBe(T.INT);
    expect(byName.f?.type).toBe(T.FLOAT);
    expect(byName.s?.type).toBe(T.STRING);
    expect(byName.is?.type).toBe(T.INTS);
    expect(byName.fs?.type).toBe(T.FLOATS);
    expect(byName.ef?.type).toBe(T.FLOAT);
  });

  it('rejects tensors whose dims do not match the data and graphs that use undefined values', () => {
    // Prepare / Act / Assess
    expect(() => floatTensor('t', [2, 2], new Float32Array(3))).toThrow(/need 4 elements, got 3/);
    expect(() =>
      buildModel({
        inputs: [valueInfo('x', 'float32', [1])],
        outputs: [valueInfo('y', 'float32', [1])],
        initializers: [],
        nodes: [node('Add', ['x', 'missing'], ['y'])],
      }),
    ).toThrow(/'missing' before it is defined/);
  });

  it('runs in onnxruntime (float raw data, int64 initializer, Gather)', async () => {
    // Prepare
    const bytes = buildModel({
      inputs: [valueInfo('x', 'float32', [3])],
      outputs: [valueInfo('y', 'float32', [2])],
      initializers: [int64Tensor('idx', [2], [2, 0])],
      nodes: [node('Gather', ['x', 'idx'], ['y'], { axis: 0 })],
    });
    const session = await createSession(bytes);

    // Act
    const out = await runChecked(session, { x: new ort.Tensor('float32', new Float32Array([1, 2, 3]), [3]) });

    // Assess
    expect(Array.from(out.y?.data as Float32Array)).toEqual([3, 1]);
  });
});

describe('session helpers', () => {
  it('describes inputs and outputs with types and shapes', async () => {
    // Prepare
    const session = await createSession(addModel());

    // Act
    const d = describeSession(session);

    // Assess
    expect(d.inputs).toEqual([{ name: 'x', isTensor: true, type: 'float32', shape: [1, 'L'] }]);
    expect(d.outputs).toEqual([{ name: 'y', isTensor: true, type: 'float32', shape: [1, 'L'] }]);
  });

  it('runChecked runs valid feeds and names expected vs given inputs on a mismatch', async () => {
    // Prepare
    const session = await createSession(addModel());
    const good = { x: new ort.Tensor('float32', new Float32Array([1, 2]), [1, 2]) };
    const bad = { z: new ort.Tensor('int64', new BigInt64Array([1n]), [1, 1]) };

    // Act
    const out = await runChecked(session, good);
    const err = await runChecked(session, bad).catch((e: Error) => e);

    // Assess
    expect(Array.from(out.y?.data as Float32Array)).toEqual([2, 4]);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/missing inputs: x/);
    expect((err as Error).message).toMatch(/unexpected inputs: z/);
    expect((err as Error).message).toMatch(/Expected inputs: x \(float32 \[1,L\]\)/);
    expect((err as Error).message).toMatch(/Given: z \(int64 \[1,1\]\)/);
  });

  it('runChecked reports a wrong element type or rank before running', async () => {
    // Prepare
    const session = await createSession(addModel());

    // Act
    const err = await runChecked(session, { x: new ort.Tensor('float32', new Float32Array([1, 2]), [2]) }).catch((e: Error) => e);

    // Assess
    expect((err as Error).message).toMatch(/input 'x' has rank 1/);
  });
});
