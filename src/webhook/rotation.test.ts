import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { type RotationPolicy, rotate } from './rotation.ts';

const S = 1000;
const policy: RotationPolicy = {
  names: ['127.0.0.1', 'mailroom-webhook.mailroom-system.svc'],
  caValidityMs: 300 * S,
  certValidityMs: 60 * S,
  propagationMs: 10 * S,
};
const t0 = Date.now();
const x = (pem: string) => new X509Certificate(pem);
const count = (bundle: string) => bundle.match(/BEGIN CERTIFICATE/g)?.length ?? 0;

describe('rotate', () => {
  test('makes a CA and a certificate for every name', async () => {
    const m = await rotate(undefined, t0, policy);
    const leaf = x(m.cert);
    assert.ok(leaf.checkIssued(x(m.caCert)));
    assert.ok(leaf.checkIP('127.0.0.1'));
    assert.ok(leaf.checkHost('mailroom-webhook.mailroom-system.svc'));
    assert.equal(count(m.bundle), 1);
  });

  test('keeps what is not due, renews the certificate with a third of its life left', async () => {
    const m = await rotate(undefined, t0, policy);
    assert.equal(await rotate(m, t0 + 30 * S, policy), m);
    const renewed = await rotate(m, t0 + 45 * S, policy);
    assert.notEqual(renewed.cert, m.cert);
    assert.equal(renewed.caCert, m.caCert);
    assert.equal(renewed.bundle, m.bundle);
  });

  test('renews when the names change', async () => {
    const m = await rotate(undefined, t0, policy);
    const renewed = await rotate(m, t0 + S, { ...policy, names: ['127.0.0.2'] });
    assert.ok(x(renewed.cert).checkIP('127.0.0.2'));
  });

  test('a new CA is trusted first and signs only after propagation', async () => {
    const m = await rotate(undefined, t0, policy);
    // Step 30 s at a time, renewing the certificate as it comes due, until the CA is due at 210 s
    // (90 s left, under a third of 300 s).
    let at = t0 + 30 * S;
    let cur = m;
    for (; at < t0 + 205 * S; at += 30 * S) cur = await rotate(cur, at, policy);
    assert.equal(cur.caCert, m.caCert);
    const oldCa = x(cur.caCert);
    const leafBefore = cur.cert;
    cur = await rotate(cur, t0 + 210 * S, policy);
    assert.notEqual(cur.caCert, m.caCert);
    assert.equal(count(cur.bundle), 2, 'old and new CA both trusted');
    assert.equal(cur.cert, leafBefore, 'old certificate served while the new CA propagates');
    assert.ok(x(cur.cert).checkIssued(oldCa));
    cur = await rotate(cur, t0 + 221 * S, policy);
    assert.ok(x(cur.cert).checkIssued(x(cur.caCert)), 'then a certificate from the new CA');
    cur = await rotate(cur, t0 + 301 * S, policy);
    assert.equal(count(cur.bundle), 1, 'the expired CA leaves the bundle');
  });
});
