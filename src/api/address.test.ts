import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromDomain } from './address.ts';

describe('fromDomain', () => {
  it('is the lower-cased text after the last @', () => {
    assert.equal(fromDomain('No-Reply@Example.COM'), 'example.com');
    assert.equal(fromDomain('"a@b"@mail.example.org'), 'mail.example.org');
  });
});
