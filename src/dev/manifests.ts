/**
 * The demo's example manifests: one namespace, the sink's CA, and three senders that show the three
 * outcomes a user meets first: working, wrong password, bad URI.
 *
 * @module
 */
import { stringify } from 'yaml';
import { API_VERSION, KIND } from '../api/emailsender.ts';
import type { MailSink } from './mail-sink.ts';

export const DEMO_NAMESPACE = 'mailroom-demo';
export const DEMO_SENDERS = {
  working: 'identity',
  wrongPassword: 'wrong-password',
  badUri: 'bad-uri',
} as const;

const secret = (name: string, stringData: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: DEMO_NAMESPACE },
  type: 'Opaque',
  stringData,
});

const sender = (name: string, uriSecret: string) => ({
  apiVersion: API_VERSION,
  kind: KIND,
  metadata: { name, namespace: DEMO_NAMESPACE },
  spec: {
    smtp: {
      uriSecretRef: { name: uriSecret, key: 'uri' },
      caSecretRef: { name: 'demo-sink-ca', key: 'ca.crt' },
    },
    from: { address: 'no-reply@demo.mailroom.test', name: 'Mailroom Demo' },
    probe: { interval: '30s' },
  },
});

/** The demo manifests as one multi-document YAML. */
export function demoManifests(sink: MailSink): string {
  const base = `${sink.host}:${sink.port}/`;
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NAMESPACE } },
    secret('demo-sink-ca', { 'ca.crt': sink.caPem }),
    secret('smtp', { uri: `smtp://${sink.user}:${encodeURIComponent(sink.password)}@${base}` }),
    secret('smtp-wrong-password', { uri: `smtp://${sink.user}:not-the-password@${base}` }),
    // A password with an unescaped "/": the controller names the character and its escape.
    secret('smtp-bad-uri', { uri: `smtp://${sink.user}:pass/word@${base}` }),
    sender(DEMO_SENDERS.working, 'smtp'),
    sender(DEMO_SENDERS.wrongPassword, 'smtp-wrong-password'),
    sender(DEMO_SENDERS.badUri, 'smtp-bad-uri'),
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}
