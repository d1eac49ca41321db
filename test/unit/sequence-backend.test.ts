/** Backend selection; runs in its own vitest worker process, so falling back to cpu affects no other file. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import { initTfjsBackend, resolveWasmDir, WASM_DIR_ENV } from '../../models/sequence/backend';

describe('resolveWasmDir', () => {
  it('prefers the argument, then env TFJS_WASM_DIR, then the installed package', () => {
    expect(resolveWasmDir({ wasmDir: '/opt/a', env: { [WASM_DIR_ENV]: '/opt/b' } })).toBe('/opt/a');
    expect(resolveWasmDir({ env: { [WASM_DIR_ENV]: '/opt/b' } })).toBe('/opt/b');
    expect(resolveWasmDir({ env: {} })).toMatch(/@tensorflow\/tfjs-backend-wasm\/dist$/);
  });
});

describe('initTfjsBackend', () => {
  it('falls back to the cpu backend with a warning when the wasm files are missing', async () => {
    // Prepare
    const warn = vi.fn();

    // Act
    const backend = await initTfjsBackend({ wasmDir: '/nonexistent/wasm', warn });

    // Assess
    expect(backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/falling back to the cpu backend/), expect.objectContaining({ wasmDir: '/nonexistent/wasm' }));
  });
});
