import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeKube } from '../../test/support/controller-fakes.ts';
import { fenceWrites, NotLeaderError } from './fence.ts';

test('writes pass while acting as leader and are refused at once after; reads stay open', async () => {
  const kube = new FakeKube();
  kube.setSecret('mail', 'smtp', { uri: 'smtp://h/' });
  let acting = true;
  const fenced = fenceWrites(kube, () => acting);
  const a = { kind: 'EmailSender', namespace: 'mail', name: 'a' } as const;
  await fenced.patchStatus(a, '1', { conditions: [] }, undefined);
  assert.equal(kube.statusPatches.length, 1);
  acting = false;
  await assert.rejects(fenced.patchStatus(a, '2', {}, undefined), NotLeaderError);
  await assert.rejects(
    fenced.writeConfigSecret({
      namespace: 'mail',
      name: 'a-mailroom',
      owner: { name: 'a', uid: 'u' },
      revision: 'r',
      publishedAt: 't',
      body: '{}',
    }),
    NotLeaderError,
  );
  assert.equal(kube.statusPatches.length, 1);
  assert.equal(kube.configs.size, 0);
  assert.deepEqual((await fenced.readSecret('mail', 'smtp'))?.data, { uri: 'smtp://h/' });
});
