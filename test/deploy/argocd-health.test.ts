/**
 * deploy/argocd/health.lua run the way Argo CD runs it — by gopher-lua, the interpreter Argo CD
 * embeds (built from Go modules, see test/tools/), with only the libraries Argo CD opens — and by
 * Debian's lua5.4, against the statuses the controller writes, for both kinds: `obj` is a global,
 * the script returns `hs`.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { goTool } from '../support/go-tools.ts';
import { runCommand } from '../support/run-command.ts';

const script = fileURLToPath(new URL('../../deploy/argocd/health.lua', import.meta.url));

interface Health {
  status: string;
  message: string;
}

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

async function lua54(obj: object): Promise<Health> {
  const r = await runCommand('lua5.4', [
    '-e',
    `obj = ${lua(obj)}`,
    '-e',
    `local hs = dofile(${JSON.stringify(script)}); io.write(hs.status, "\\n", hs.message or "")`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [status, ...message] = r.stdout.split('\n');
  return { status: status!, message: message.join('\n') };
}

let gopherLua: string;
async function gopher(obj: object): Promise<Health> {
  const r = await runCommand(gopherLua, [script], { input: JSON.stringify(obj) });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Health;
}

const cond = (type: string, status: string, reason: string, message: string, observedGeneration = 3) => ({
  type,
  status,
  reason,
  message,
  observedGeneration,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});

const kinds = {
  EmailSender: { name: 'identity', namespace: 'auth' },
  ClusterEmailSender: { name: 'platform' },
};

const sender = (kind: keyof typeof kinds, status?: object, spec: object = {}) => ({
  apiVersion: 'mailroom.dev/v1alpha1',
  kind,
  metadata: { ...kinds[kind], generation: 3 },
  spec: { smtp: { uriSecretRef: { name: 'smtp' } }, from: { address: 'a@example.com' }, ...spec },
  ...(status ? { status } : {}),
});

const verified = 'STARTTLS (TLSv1.3) to smtp.example.com:587; AUTH PLAIN accepted; 212 ms';
const rejected = 'the server rejected the credentials';

/** Each state the controller writes (src/controller/status.ts), and the health Argo CD must show. */
const cases: {
  name: string;
  status?: object;
  spec?: object;
  want: Health | { status: string; match: RegExp };
}[] = [
  {
    name: 'Ready=True for the current generation is Healthy',
    status: {
      observedGeneration: 3,
      conditions: [cond('Ready', 'True', 'Verified', verified)],
    },
    want: { status: 'Healthy', message: verified },
  },
  {
    name: 'a failed probe not (yet) retried is Degraded, with the reason',
    status: { observedGeneration: 3, conditions: [cond('Ready', 'False', 'AuthenticationFailed', rejected)] },
    want: { status: 'Degraded', message: `AuthenticationFailed: ${rejected}` },
  },
  {
    name: 'a failed probe retried with backoff (Reconciling=True) is Degraded, not Progressing',
    status: {
      observedGeneration: 3,
      conditions: [
        cond('Ready', 'False', 'AuthenticationFailed', rejected),
        cond(
          'Reconciling',
          'True',
          'ProgressingWithRetry',
          'retrying with backoff after AuthenticationFailed',
        ),
      ],
    },
    want: { status: 'Degraded', message: `AuthenticationFailed: ${rejected} (retrying with backoff)` },
  },
  {
    name: 'Stalled=True is Degraded, with its reason',
    status: {
      observedGeneration: 3,
      conditions: [
        cond('Ready', 'False', 'InvalidURI', 'the password contains "/"'),
        cond('Stalled', 'True', 'InvalidURI', 'the password contains "/": percent-encode it as %2F'),
      ],
    },
    want: { status: 'Degraded', message: 'InvalidURI: the password contains "/": percent-encode it as %2F' },
  },
  {
    name: 'a generation not yet observed is Progressing, even if the old one was Ready',
    status: { observedGeneration: 2, conditions: [cond('Ready', 'True', 'Verified', verified, 2)] },
    want: { status: 'Progressing', match: /generation 3/ },
  },
  {
    name: 'a Ready condition of an older generation is Progressing',
    status: { observedGeneration: 3, conditions: [cond('Ready', 'True', 'Verified', verified, 2)] },
    want: { status: 'Progressing', match: /Ready condition of generation 3/ },
  },
  {
    name: 'a new generation being probed (Ready=Unknown, Reconciling=True) is Progressing',
    status: {
      observedGeneration: 3,
      conditions: [
        cond('Ready', 'Unknown', 'Progressing', 'probing generation 3'),
        cond('Reconciling', 'True', 'Progressing', 'probing generation 3'),
      ],
    },
    want: { status: 'Progressing', message: 'probing generation 3' },
  },
  { name: 'no status yet is Progressing', want: { status: 'Progressing', match: /observe generation 3/ } },
  {
    name: 'spec.suspend is Suspended, whatever the status says',
    spec: { suspend: true },
    status: { observedGeneration: 3, conditions: [cond('Ready', 'False', 'AuthenticationFailed', rejected)] },
    want: { status: 'Suspended', match: /suspended/ },
  },
];

describe('Argo CD health check (deploy/argocd/health.lua)', () => {
  before(async () => {
    gopherLua = await goTool('gopher-lua');
  });

  for (const [interpreter, run] of [
    ['gopher-lua (Argo CD)', gopher],
    ['lua5.4', lua54],
  ] as const) {
    for (const kind of Object.keys(kinds) as (keyof typeof kinds)[]) {
      describe(`${interpreter}, ${kind}`, () => {
        for (const c of cases) {
          test(c.name, async () => {
            const hs = await run(sender(kind, c.status, c.spec));
            if ('match' in c.want) {
              assert.equal(hs.status, c.want.status);
              assert.match(hs.message, c.want.match);
            } else {
              assert.deepEqual(hs, c.want);
            }
          });
        }
      });
    }
  }
});
