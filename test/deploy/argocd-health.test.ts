/**
 * deploy/argocd/health.lua run by a real Lua interpreter (Debian's lua5.4) against sample
 * EmailSender statuses, the way Argo CD runs it: `obj` is a global, the script returns `hs`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../deploy/argocd/health.lua', import.meta.url));

/** A JSON value as a Lua literal (tables for objects and arrays, arrays 1-based as Argo CD gives them). */
function lua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(lua).join(', ')}}`;
  return `{${Object.entries(value as object)
    .map(([k, v]) => `[${JSON.stringify(k)}] = ${lua(v)}`)
    .join(', ')}}`;
}

async function health(obj: object): Promise<{ status: string; message: string }> {
  const { stdout } = await run('lua5.4', [
    '-e',
    `obj = ${lua(obj)}`,
    '-e',
    `local hs = dofile(${JSON.stringify(script)}); io.write(hs.status, "\\n", hs.message or "")`,
  ]);
  const [status, ...message] = stdout.split('\n');
  return { status: status!, message: message.join('\n') };
}

const cond = (type: string, status: string, reason: string, message: string, observedGeneration = 3) => ({
  type,
  status,
  reason,
  message,
  observedGeneration,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});

const sender = (status?: object, spec: object = {}) => ({
  apiVersion: 'mailroom.dev/v1alpha1',
  kind: 'EmailSender',
  metadata: { name: 'identity', namespace: 'auth', generation: 3 },
  spec: { smtp: { uriSecretRef: { name: 'smtp' } }, from: { address: 'a@example.com' }, ...spec },
  ...(status ? { status } : {}),
});

const verified = 'STARTTLS (TLSv1.3) to smtp.example.com:587; AUTH PLAIN accepted; 212 ms';

describe('Argo CD health check (deploy/argocd/health.lua)', () => {
  test('Ready=True for the current generation is Healthy', async () => {
    const hs = await health(
      sender({
        observedGeneration: 3,
        conditions: [
          cond('Ready', 'True', 'Verified', verified),
          cond('Reconciling', 'False', 'Verified', ''),
        ],
      }),
    );
    assert.deepEqual(hs, { status: 'Healthy', message: verified });
  });

  test('Ready=False is Degraded, with the reason', async () => {
    const hs = await health(
      sender({
        observedGeneration: 3,
        conditions: [cond('Ready', 'False', 'AuthenticationFailed', 'the server rejected the credentials')],
      }),
    );
    assert.deepEqual(hs, {
      status: 'Degraded',
      message: 'AuthenticationFailed: the server rejected the credentials',
    });
  });

  test('a stale observedGeneration is Progressing, even if the old one was Ready', async () => {
    const hs = await health(
      sender({ observedGeneration: 2, conditions: [cond('Ready', 'True', 'Verified', verified, 2)] }),
    );
    assert.equal(hs.status, 'Progressing');
    assert.match(hs.message, /generation 3/);
    const staleCondition = await health(
      sender({ observedGeneration: 3, conditions: [cond('Ready', 'True', 'Verified', verified, 2)] }),
    );
    assert.equal(staleCondition.status, 'Progressing');
  });

  test('Stalled=True is Degraded even while Ready is False', async () => {
    const hs = await health(
      sender({
        observedGeneration: 3,
        conditions: [
          cond('Ready', 'False', 'InvalidURI', 'the password contains "/"'),
          cond('Stalled', 'True', 'InvalidURI', 'the password contains "/": percent-encode it as %2F'),
        ],
      }),
    );
    assert.deepEqual(hs, {
      status: 'Degraded',
      message: 'InvalidURI: the password contains "/": percent-encode it as %2F',
    });
  });

  test('Reconciling=True is Progressing; no status yet is Progressing', async () => {
    const hs = await health(
      sender({
        observedGeneration: 3,
        conditions: [
          cond('Ready', 'Unknown', 'Progressing', 'probing'),
          cond('Reconciling', 'True', 'Progressing', 'probing smtp.example.com:587'),
        ],
      }),
    );
    assert.deepEqual(hs, { status: 'Progressing', message: 'probing smtp.example.com:587' });
    assert.equal((await health(sender())).status, 'Progressing');
  });

  test('spec.suspend is Suspended', async () => {
    assert.equal((await health(sender(undefined, { suspend: true }))).status, 'Suspended');
  });
});
