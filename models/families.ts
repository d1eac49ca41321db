/**
 * The model families this stack trains. Adding a family: write models/<name>/family.ts (a
 * `ModelFamily`, shared/families/contract.ts) and models/<name>/trainer.ts (a `FamilyTrainer` exported
 * as `trainer`), then add ONE line to BUILT_IN below. The retraining state machine maps over the enabled families
 * (RETRAIN_FAMILIES, or the request's `families`), so nothing else changes.
 *
 * `registerFamily` adds a family at run time (a plug-in outside this tree, or a test's throw-away
 * family) with its trainer; it lives in this process only.
 */
import { recommenderFamily } from './recommender/family';
import type { FamilyTrainer, ModelFamily } from '../shared/families/contract';

const BUILT_IN: readonly ModelFamily[] = [recommenderFamily as unknown as ModelFamily];

const FAMILY_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const families = new Map<string, ModelFamily>(BUILT_IN.map((f) => [f.name, f]));
const pluginTrainers = new Map<string, FamilyTrainer>();

/** The family whose result fills the top-level fields of a run report (kept for readers written before there were several families). */
export const PRIMARY_FAMILY = 'recommender';

export class UnknownFamilyError extends Error {
  constructor(readonly family: string) {
    super(`Unknown model family "${family}" (known: ${[...families.keys()].join(', ')})`);
    this.name = 'UnknownFamily';
  }
}

export function familyNames(): string[] {
  return [...families.keys()];
}

export function hasFamily(name: string): boolean {
  return families.has(name);
}

export function getFamily(name: string): ModelFamily {
  const family = families.get(name);
  if (!family) throw new UnknownFamilyError(name);
  return family;
}

/** Adds a family (and its trainer) to this process. Refuses a name already taken unless `replace`. */
export function registerFamily(family: ModelFamily, trainer: FamilyTrainer, options: { replace?: boolean } = {}): () => void {
  if (!FAMILY_NAME_RE.test(family.name)) throw new Error(`family name "${family.name}" must match ${FAMILY_NAME_RE.source}`);
  if (families.has(family.name) && !options.replace) throw new Error(`model family "${family.name}" is already registered`);
  const previous = families.get(family.name);
  families.set(family.name, family);
  pluginTrainers.set(family.name, trainer);
  return () => {
    pluginTrainers.delete(family.name);
    if (previous) families.set(family.name, previous);
    else families.delete(family.name);
  };
}

/** The trainer of a family registered at run time (built-in trainers are loaded by ./trainers). */
export function pluginTrainer(name: string): FamilyTrainer | undefined {
  return pluginTrainers.get(name);
}
