/**
 * The certificate authority of `pki.ts` run in a short-lived child process. @peculiar/x509 and its
 * ASN.1 stack, once loaded, stay in a process for good (~5 MB of resident memory); the webhook
 * issues at its first start and then every few months, so a long-running controller makes its
 * certificates apart and gets the memory back when the child exits. Keys travel over pipes, never
 * on a command line, and the child's stderr is dropped (an error could quote its input).
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import type { KeyPair } from './pki.ts';

type Request =
  | { op: 'ca'; commonName: string; notAfter?: number }
  | { op: 'issue'; ca: KeyPair; names: string[]; notAfter?: number };

async function serve(req: Request): Promise<KeyPair> {
  const { createCA, loadCA } = await import('./pki.ts');
  if (req.op === 'ca') {
    const ca = await createCA(req.commonName, req.notAfter ? { notAfter: new Date(req.notAfter) } : {});
    return { cert: ca.cert, key: ca.key };
  }
  const ca = await loadCA(req.ca);
  return ca.issue({ names: req.names, ...(req.notAfter ? { notAfter: new Date(req.notAfter) } : {}) });
}

function apart(req: Request): Promise<KeyPair> {
  // Not an ES import: node:child_process is needed only here, once in months.
  const { spawn } = process.getBuiltinModule('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0)
        return reject(new Error(`certificate issuance failed: its process exited with ${code}`));
      try {
        resolve(JSON.parse(out) as KeyPair);
      } catch {
        reject(new Error('certificate issuance failed: its process answered no certificate'));
      }
    });
    child.stdin.end(JSON.stringify(req));
  });
}

/**
 * Creates a CA (as `pki.ts`'s `createCA`) in a child process; its certificate and key, PEM.
 *
 * @example
 * const ca = await createCAApart('Mailroom Webhook CA', { notAfter: new Date(Date.now() + YEAR) });
 */
export function createCAApart(commonName: string, opts: { notAfter?: Date } = {}): Promise<KeyPair> {
  return apart({ op: 'ca', commonName, ...(opts.notAfter ? { notAfter: opts.notAfter.getTime() } : {}) });
}

/**
 * Issues a server certificate for `names` signed by `ca` (as `loadCA(ca).issue`) in a child process.
 *
 * @example
 * const { cert, key } = await issueApart(ca, { names: ['svc.ns.svc'], notAfter });
 */
export function issueApart(ca: KeyPair, leaf: { names: string[]; notAfter?: Date }): Promise<KeyPair> {
  return apart({
    op: 'issue',
    ca,
    names: leaf.names,
    ...(leaf.notAfter ? { notAfter: leaf.notAfter.getTime() } : {}),
  });
}

// Run as a script (the child), not imported. (import.meta.main would say so from Node 24.2 only.)
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let input = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) input += chunk;
  process.stdout.write(JSON.stringify(await serve(JSON.parse(input) as Request)));
}
