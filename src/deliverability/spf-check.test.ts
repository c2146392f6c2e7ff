import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reasonStatus } from './reasons.ts';
import { spfMechanism, spfWith } from './spf-check.ts';

describe('SPF suggestions', () => {
  it('authorizes a named host with a:, an address with ip4:/ip6:, a relay with its include', () => {
    assert.equal(spfMechanism('smtp.example.com', ['192.0.2.1']), 'a:smtp.example.com');
    assert.equal(spfMechanism('192.0.2.1', ['192.0.2.1']), 'ip4:192.0.2.1');
    assert.equal(spfMechanism('2001:db8::1', ['2001:db8::1']), 'ip6:2001:db8::1');
    assert.equal(
      spfMechanism('email-smtp.eu-west-1.amazonaws.com', ['198.51.100.1']),
      'include:amazonses.com',
    );
    assert.equal(spfMechanism('smtp.sendgrid.net', []), 'include:sendgrid.net');
  });

  it('adds the mechanism before the closing all or redirect, keeping every other term', () => {
    assert.equal(spfWith(undefined, 'a:mx.example'), 'v=spf1 a:mx.example ~all');
    assert.equal(spfWith('v=spf1 mx -all', 'a:mx.example'), 'v=spf1 mx a:mx.example -all');
    assert.equal(spfWith('v=spf1 mx  ~all', 'ip4:192.0.2.1'), 'v=spf1 mx ip4:192.0.2.1 ~all');
    assert.equal(spfWith('v=spf1 redirect=_spf.example', 'a:x'), 'v=spf1 a:x redirect=_spf.example');
    assert.equal(spfWith('v=spf1 mx', 'a:x'), 'v=spf1 mx a:x');
  });
});

describe('Deliverable status per reason', () => {
  it('is True for Aligned and the informational p=none, Unknown for DNS failures, else False', () => {
    assert.equal(reasonStatus('Aligned'), 'True');
    assert.equal(reasonStatus('DMARCPolicyNone'), 'True');
    assert.equal(reasonStatus('DNSLookupFailed'), 'Unknown');
    assert.equal(reasonStatus('DKIMKeyMismatch'), 'False');
  });
});
