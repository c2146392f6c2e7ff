import assert from 'node:assert/strict';
import { createPublicKey, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  dkimRecordName,
  dkimRecordValue,
  generateDkimKey,
  loadPrivateKey,
  zoneFileText,
} from './dkim-key.ts';

describe('DKIM keys', () => {
  it('publishes the RSA public key as base64 SPKI that verifies signatures of the private key', () => {
    const { privateKeyPem, record } = generateDkimKey({ selector: 's1', domain: 'example.com.' });
    assert.equal(record.name, 's1._domainkey.example.com');
    const p = /^v=DKIM1; k=rsa; p=([A-Za-z0-9+/=]+)$/.exec(record.value)?.[1];
    assert.ok(p);
    const pub = createPublicKey({ key: Buffer.from(p, 'base64'), format: 'der', type: 'spki' });
    const sig = sign('sha256', Buffer.from('x'), privateKeyPem);
    assert.ok(verify('sha256', Buffer.from('x'), pub, sig));
  });

  it('publishes an Ed25519 key as the bare 32 bytes (RFC 8463)', () => {
    const { record } = generateDkimKey({ selector: 's', domain: 'example.com', type: 'ed25519' });
    const p = /k=ed25519; p=(.+)$/.exec(record.value)?.[1];
    assert.equal(Buffer.from(p!, 'base64').length, 32);
  });

  it('accepts PKCS#1 RSA keys and refuses what cannot sign DKIM, without echoing the key', () => {
    const { privateKeyPem } = generateDkimKey({ selector: 's', domain: 'd.example', bits: 1024 });
    const pkcs1 = loadPrivateKey(privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    assert.equal(dkimRecordValue(pkcs1), dkimRecordValue(privateKeyPem));
    assert.throws(
      () => loadPrivateKey('-----BEGIN PRIVATE KEY-----\nnot a key\n'),
      (err: Error) => {
        assert.match(err.message, /not a usable PEM key/);
        assert.doesNotMatch(err.message, /not a key/);
        return true;
      },
    );
  });

  it('splits long values into 255-byte quoted strings for zone files', () => {
    assert.equal(dkimRecordName('a', 'b.example'), 'a._domainkey.b.example');
    const text = zoneFileText('x'.repeat(300));
    assert.equal(text, `"${'x'.repeat(255)}" "${'x'.repeat(45)}"`);
  });
});
