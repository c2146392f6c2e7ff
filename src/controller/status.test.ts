import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EmailSenderStatus } from '../api/emailsender.ts';
import { eventsOf } from './status.ts';
import type { EventNote } from './types.ts';

const ready = (status: 'True' | 'False', reason: string, message: string): EmailSenderStatus => ({
  conditions: [{ type: 'Ready', status, reason, message, lastTransitionTime: '2026-05-01T10:00:00Z' }],
});
const published: EventNote = {
  type: 'Normal',
  reason: 'ConfigPublished',
  action: 'Publish',
  note: 'published config revision abc to Secret a-mailroom',
  ridesAlong: true,
};
const dns: EventNote = {
  type: 'Warning',
  reason: 'DeliverabilityCheckFailed',
  action: 'CheckDNS',
  note: 'no DNS',
};

describe('eventsOf', () => {
  test('a Ready transition is one event; a note that rides along is folded into it', () => {
    const events = eventsOf(undefined, ready('True', 'Verified', 'AUTH PLAIN accepted'), 'Verified', [
      published,
      dns,
    ]);
    assert.deepEqual(events, [
      {
        type: 'Normal',
        reason: 'Verified',
        action: 'Probe',
        note: 'AUTH PLAIN accepted; published config revision abc to Secret a-mailroom',
      },
      { type: 'Warning', reason: 'DeliverabilityCheckFailed', action: 'CheckDNS', note: 'no DNS' },
    ]);
  });

  test('no transition: the notes alone, each its own event', () => {
    const same = ready('True', 'Verified', 'ok');
    assert.deepEqual(
      eventsOf(same, same, 'Verified', [published]).map((e) => [e.reason, e.ridesAlong]),
      [['ConfigPublished', undefined]],
    );
  });

  test('a failure is a Warning with its reason and message', () => {
    const [event] = eventsOf(
      ready('True', 'Verified', 'ok'),
      ready('False', 'ConnectionRefused', 'refused'),
      'ConnectionRefused',
      [],
    );
    assert.deepEqual(event, {
      type: 'Warning',
      reason: 'ConnectionRefused',
      action: 'Probe',
      note: 'refused',
    });
  });
});
