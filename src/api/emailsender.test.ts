import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PROBE_INTERVAL_MS, emailSenderSpecSchema } from './emailsender.ts';

describe('emailSenderSpecSchema: durations converted once', () => {
  const minimal = { smtp: { uriSecretRef: { name: 'smtp' } }, from: { address: 'a@example.com' } };

  it('supplies the defaults and their milliseconds', () => {
    const spec = emailSenderSpecSchema.parse(minimal);
    assert.equal(spec.probe.interval, '10m');
    assert.equal(spec.probe.intervalMs, 600_000);
    assert.equal(spec.probe.timeoutMs, 10_000);
    assert.equal(spec.delivery.maxBackoffMs, 3_600_000);
    assert.equal(DEFAULT_PROBE_INTERVAL_MS, 600_000);
  });

  it('converts what the spec says', () => {
    const spec = emailSenderSpecSchema.parse({
      ...minimal,
      probe: { interval: '1h30m', timeout: '2500ms' },
      delivery: { maxBackoff: '90s' },
    });
    assert.equal(spec.probe.intervalMs, 5_400_000);
    assert.equal(spec.probe.timeoutMs, 2500);
    assert.equal(spec.delivery.maxBackoffMs, 90_000);
  });
});
