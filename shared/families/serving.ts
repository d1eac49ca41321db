/**
 * Checks a loaded model's declared signature against its family's serving contract (names, element
 * types, ranks): the part of a contract every family shares. A family's trainer adds its own golden
 * runs (`checkArtifact`). Pure: takes what shared/onnx/session.ts describeSession reports.
 */
import type { SessionDescription } from '../onnx/session';
import type { ServingContract } from './contract';

const rankOf = (shape: string) =>
  shape
    .replace(/^\[|\]$/g, '')
    .split(',')
    .filter((d) => d.trim() !== '').length;

export function servingSignatureProblems(contract: ServingContract, described: SessionDescription): string[] {
  const problems: string[] = [];
  const inputs = new Set(described.inputs.map((v) => v.name));
  const declared = new Set(contract.inputs.map((v) => v.name));
  for (const name of inputs) if (!declared.has(name)) problems.push(`input '${name}' is not in the contract (inputs: ${[...declared].join(', ')})`);
  const check = (side: 'input' | 'output', want: ServingContract['inputs'][number], have: SessionDescription['inputs']) => {
    const value = have.find((v) => v.name === want.name);
    if (!value) return problems.push(`${side} '${want.name}' (${want.type} ${want.shape}) is missing`);
    if (value.type !== undefined && value.type !== want.type) problems.push(`${side} '${want.name}' is ${value.type}, the contract says ${want.type}`);
    if (value.shape && value.shape.length > 0 && value.shape.length !== rankOf(want.shape)) {
      problems.push(`${side} '${want.name}' has rank ${value.shape.length} [${value.shape.join(',')}], the contract says ${want.shape}`);
    }
    return undefined;
  };
  for (const want of contract.inputs) check('input', want, described.inputs);
  for (const want of contract.outputs) check('output', want, described.outputs);
  return problems;
}
