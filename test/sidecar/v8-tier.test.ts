/**
 * The `mailroom sidecar` process runs without V8's top tier (TurboFan), as src/cli/main.ts decides:
 * a function V8 is asked to optimize in that process gets no TurboFan code. The same request in a
 * plain Node process of the same binary gets it, so the check can tell the two apart.
 *
 * @module
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/sidecar-upstream.ts';

const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

// Preloaded into the process: once the entry module has begun (its first statements run before any
// timer), asks V8 to optimize a function on its next call and prints the function's optimization
// status bits (runtime-test.cc: 1 << 6 is TurboFan code). Without TurboFan the request leaves the
// function as it was.
const PRELOAD = `
function hot(x) { let s = 0; for (let i = 0; i < x; i++) s += i * x; return s; }
const natives = (body) => new Function('f', body);
setTimeout(() => {
  natives('%PrepareFunctionForOptimization(f)')(hot);
  hot(3);
  hot(4);
  natives('%OptimizeFunctionOnNextCall(f)')(hot);
  hot(5);
  process.stderr.write('TIER ' + natives('return %GetOptimizationStatus(f)')(hot) + '\\n');
}, 100);
`;

/** Runs node with the preload and `args`; resolves with the status bits it printed. */
function tierOf(args: string[]): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--allow-natives-syntax', '--import', `data:text/javascript,${encodeURIComponent(PRELOAD)}`, ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += String(d);
      const m = /TIER (\d+)/.exec(err);
      if (m) {
        child.kill('SIGTERM');
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing its tier: ${err}`)));
  });
}

const TURBOFAN = 1 << 6;

test('a plain node process compiles with TurboFan (the check can see it)', async () => {
  const bits = await tierOf(['-e', 'setTimeout(() => {}, 30_000)']);
  assert.ok(bits & TURBOFAN, `status bits ${bits.toString(2)}`);
});

test('the sidecar process never compiles with TurboFan', async () => {
  const tmp = tempDir();
  try {
    const bits = await tierOf([
      main,
      'sidecar',
      '--data-dir',
      tmp.dir,
      '--uri',
      'smtp://127.0.0.1:9/?disable_starttls=true',
      '--from',
      'no-reply@example.com',
      '--smtp-listen',
      '127.0.0.1:0',
      '--http-listen',
      '127.0.0.1:0',
    ]);
    assert.equal(bits & TURBOFAN, 0, `status bits ${bits.toString(2)}`);
  } finally {
    tmp.remove();
  }
});
