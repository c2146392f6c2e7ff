import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRegistry } from '../runtime/metrics.ts';
import { countSenders, createControllerMetrics } from './metrics.ts';

const cond = (type: string, status: string, reason: string) => ({ type, status, reason });

describe('mailroom_senders', () => {
  test('counts senders by condition, status and reason; a sender without status is Ready/Unknown/NotObserved', async () => {
    const registry = createRegistry({ defaultMetrics: false });
    const m = createControllerMetrics(registry);
    countSenders(m.senders, [
      { status: { conditions: [cond('Ready', 'True', 'Verified')] } },
      {
        status: {
          conditions: [
            cond('Ready', 'True', 'Verified'),
            cond('CertificateExpiringSoon', 'True', 'CertificateExpiringSoon'),
          ],
        },
      },
      {
        status: {
          conditions: [
            cond('Ready', 'False', 'AuthenticationFailed'),
            cond('Reconciling', 'True', 'ProgressingWithRetry'),
          ],
        },
      },
      {},
    ]);
    const { values } = await m.senders.get();
    const seen = Object.fromEntries(
      values.map((v) => [`${v.labels.condition}/${v.labels.status}/${v.labels.reason}`, v.value]),
    );
    assert.deepEqual(seen, {
      'Ready/True/Verified': 2,
      'CertificateExpiringSoon/True/CertificateExpiringSoon': 1,
      'Ready/False/AuthenticationFailed': 1,
      'Reconciling/True/ProgressingWithRetry': 1,
      'Ready/Unknown/NotObserved': 1,
    });
    // A sender gone from the cache leaves no stale series behind.
    countSenders(m.senders, []);
    assert.deepEqual((await m.senders.get()).values, []);
  });
});
