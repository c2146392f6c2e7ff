import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fakeDeps, sender } from '../../test/support/controller-fakes.ts';
import { emailSenderSpecSchema } from '../api/emailsender.ts';
import { RetryError, StalledError } from './errors.ts';
import { runSteps, StepFailure } from './run-steps.ts';
import type { ReconcileState, ReconcileStep } from './types.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function state(): ReconcileState {
  const s = sender('a');
  return {
    sender: s,
    spec: emailSenderSpecSchema.parse(s.spec),
    force: false,
    secretNamespace: 'mail',
    notes: [],
  };
}

describe('runSteps', () => {
  const { deps } = fakeDeps({ senders: new Map() });

  test('runs the steps in order and ends ready', async () => {
    const ran: string[] = [];
    const steps: ReconcileStep[] = ['a', 'b', 'c'].map((name) => ({
      name,
      run: async () => void ran.push(name),
    }));
    assert.deepEqual(await runSteps(steps, state(), deps, { delayMs: 10 }), {
      kind: 'ready',
      message: 'verified',
    });
    assert.deepEqual(ran, ['a', 'b', 'c']);
  });

  test('the first ReconcileError wins and stops the chain; its reason and kind become the outcome', async () => {
    const ran: string[] = [];
    const steps: ReconcileStep[] = [
      { name: 'a', run: async () => void ran.push('a') },
      {
        name: 'b',
        run: async () => {
          throw new StalledError('SecretNotFound', 'no Secret');
        },
      },
      {
        name: 'c',
        run: async () => {
          throw new RetryError('ConnectionRefused', 'refused');
        },
      },
    ];
    const outcome = await runSteps(steps, state(), deps, { delayMs: 10 });
    assert.deepEqual(outcome, { kind: 'stalled', reason: 'SecretNotFound', message: 'no Secret' });
    assert.deepEqual(ran, ['a']);
  });

  test('any other error rejects as a StepFailure naming the step', async () => {
    const steps: ReconcileStep[] = [
      {
        name: 'publish-config',
        run: async () => {
          throw new Error('409 conflict');
        },
      },
    ];
    await assert.rejects(runSteps(steps, state(), deps, { delayMs: 10 }), (err: unknown) => {
      assert.ok(err instanceof StepFailure);
      assert.equal(err.step, 'publish-config');
      assert.match(err.message, /^publish-config failed: 409 conflict/);
      return true;
    });
  });

  test('progress is reported only for a slow step that declares it, and awaited before the next step', async () => {
    const order: string[] = [];
    const slow = async (name: string) => {
      await sleep(40);
      order.push(name);
    };
    const steps: ReconcileStep[] = [
      { name: 'quiet-slow', run: () => slow('quiet-slow') },
      { name: 'loud-slow', run: () => slow('loud-slow'), reportsProgress: true },
      { name: 'loud-fast', run: async () => void order.push('loud-fast'), reportsProgress: true },
    ];
    const report = async () => {
      order.push('report start');
      await sleep(60); // outlasts the step: the loop must wait for it
      order.push('report end');
    };
    await runSteps(steps, state(), deps, { delayMs: 10, report });
    assert.deepEqual(order, ['quiet-slow', 'report start', 'loud-slow', 'report end', 'loud-fast']);
  });

  test('without a report (the generation is already observed) a slow step shows no progress', async () => {
    const steps: ReconcileStep[] = [{ name: 'p', run: () => sleep(20), reportsProgress: true }];
    assert.equal((await runSteps(steps, state(), deps, { delayMs: 1 })).kind, 'ready');
  });
});
