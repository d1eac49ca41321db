/**
 * Loads a family's heavy half (models/<name>/trainer.ts), or the trainer a plug-in registered with it. Only the train and evaluate tasks, the
 * training container and the upload validator import this module, so the light retraining tasks
 * never bundle onnxruntime or tfjs. The import path is a pattern: esbuild bundles every
 * models/<name>/trainer.ts into the functions that import this file, and a new family needs no line here.
 */
import type { FamilyTrainer } from '../shared/families/contract';
import { getFamily, pluginTrainer } from './families';

const cache = new Map<string, Promise<FamilyTrainer>>();

export function loadTrainer(name: string): Promise<FamilyTrainer> {
  const plugin = pluginTrainer(name);
  if (plugin) return Promise.resolve(plugin);
  getFamily(name); // an unknown name fails here, by name
  let loaded = cache.get(name);
  if (!loaded) {
    loaded = import(`./${name}/trainer.ts`).then((mod: { trainer?: FamilyTrainer }) => {
      if (!mod.trainer) throw new Error(`models/${name}/trainer.ts does not export a FamilyTrainer named "trainer"`);
      return mod.trainer;
    });
    loaded.catch(() => cache.delete(name));
    cache.set(name, loaded);
  }
  return loaded;
}
