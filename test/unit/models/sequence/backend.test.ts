/** Backend selection; runs in its own vitest worker process, so falling back to cpu affects no other file. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import { initTfjsBackend, resolveWasmDir, WASM_BINARIES, WASM_DIR_ENV } from '../../../../models/sequence/backend';

/** A folder holding files with the binaries' names (content given). */
function wasmFolder(content = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'wasm-'));
  for (const file of WASM_BINARIES) writeFileSync(join(dir, file), content);
  return dir;
}

describe('resolveWasmDir', () => {
  it('prefers the argument, then env TFJS_WASM_DIR, then the installed package', () => {
    // Prepare
    const a = wasmFolder();
    const b = wasmFolder();

    // Act / Assess
    expect(resolveWasmDir({ wasmDir: a, env: { [WASM_DIR_ENV]: b } })).toBe(a);
    expect(resolveWasmDir({ env: { [WASM_DIR_ENV]: b } })).toBe(b);
    expect(resolveWasmDir({ env: {} })).toMatch(/@tensorflow\/tfjs-backend-wasm\/dist$/);
  });

  it('skips a configured folder without the binaries (a deployment path such as /var/task/… on a laptop)', () => {
    expect(resolveWasmDir({ env: { [WASM_DIR_ENV]: '/var/task/node_modules/@tensorflow/tfjs-backend-wasm/dist' } })).toMatch(
      /node_modules\/@tensorflow\/tfjs-backend-wasm\/dist$/,
    );
    expect(resolveWasmDir({ env: { [WASM_DIR_ENV]: '/var/task/x' } })).not.toBe('/var/task/x');
  });
});

describe('initTfjsBackend', () => {
  it('falls back to the cpu backend with a warning when the wasm files are missing', async () => {
    // Prepare
    const warn = vi.fn();

    // Act
    const broken = wasmFolder('not a wasm module');
    const backend = await initTfjsBackend({ wasmDir: broken, warn });

    // Assess
    expect(backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/falling back to the cpu backend/), expect.objectContaining({ wasmDir: broken }));
  });
});
