/**
 * `mailroom dkim keygen`: makes a DKIM key pair and says exactly what to do with each half: the
 * private key into a Secret for `spec.dkim.privateKeySecretRef`, the public key as a TXT record.
 *
 * RSA only: the sidecar signs through nodemailer, whose DKIM signer takes RSA keys.
 *
 * The private key goes to `--out` (mode 0600) or, without it, to stdout between the instructions,
 * so `> key.pem` never captures it by surprise: with `--out` stdout holds only instructions.
 *
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { generateDkimKey, zoneFileText } from '../deliverability/index.ts';

interface KeygenFlags {
  selector: string;
  domain: string;
  bits: number;
  out?: string;
  secretName: string;
  output: 'text' | 'json';
}

const LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

function selectorArg(value: string): string {
  if (!value.split('.').every((l) => LABEL.test(l)))
    throw new InvalidArgumentError('expected a DNS label such as mailroom or s2026');
  return value;
}

function domainArg(value: string): string {
  const d = value.replace(/\.$/, '');
  if (!d.includes('.') || !d.split('.').every((l) => LABEL.test(l)))
    throw new InvalidArgumentError('expected a domain such as example.com');
  return d.toLowerCase();
}

function bitsArg(value: string): number {
  const n = Number(value);
  if (![1024, 2048, 3072, 4096].includes(n))
    throw new InvalidArgumentError('expected 1024, 2048, 3072 or 4096');
  return n;
}

/** Adds `dkim keygen` to the program. */
export function registerDkimCommand(program: Command): void {
  const dkim = program.command('dkim').description('DKIM signing keys for the sidecar sender');
  dkim
    .command('keygen')
    .description('Make a DKIM key pair; print the TXT record to publish and how to store the private key')
    .requiredOption('--selector <name>', 'DKIM selector (the s= tag), e.g. mailroom', selectorArg)
    .requiredOption('--domain <domain>', 'signing domain (the d= tag): normally the From domain', domainArg)
    .option('--bits <n>', 'RSA key size', bitsArg, 2048)
    .option('--out <file>', 'write the private key (PEM) to this file, mode 0600, instead of stdout')
    .option('--secret-name <name>', 'Secret name used in the printed kubectl command', 'dkim-key')
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nExample:\n  mailroom dkim keygen --selector mailroom --domain example.com --out dkim.pem',
    )
    .action(async (flags: KeygenFlags) => {
      const pair = generateDkimKey({
        selector: flags.selector,
        domain: flags.domain,
        bits: flags.bits,
      });
      if (flags.out) await writeFile(flags.out, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
      const keyFile = flags.out ?? 'dkim.pem';
      if (flags.output === 'json') {
        const out = {
          selector: flags.selector,
          domain: flags.domain,
          record: pair.record,
          ...(flags.out ? { privateKeyFile: flags.out } : { privateKeyPem: pair.privateKeyPem }),
        };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      const lines = [
        `Publish this TXT record in the DNS of ${flags.domain}:`,
        '',
        `  name:  ${pair.record.name}`,
        `  value: ${pair.record.value}`,
        '',
        '  zone file:',
        `  ${pair.record.name}. 3600 IN TXT ${zoneFileText(pair.record.value)}`,
        '',
        flags.out
          ? `Private key written to ${flags.out}. Store it in a Secret beside the EmailSender:`
          : `Private key (save it as ${keyFile}; it is shown only once):\n\n${pair.privateKeyPem}\nStore it in a Secret beside the EmailSender:`,
        '',
        `  kubectl create secret generic ${flags.secretName} --from-file=private.pem=${keyFile}`,
        '',
        'and sign with it:',
        '',
        '  spec:',
        '    dkim:',
        `      selector: ${flags.selector}`,
        `      domain: ${flags.domain}`,
        `      privateKeySecretRef: { name: ${flags.secretName}, key: private.pem }`,
        '',
        'The controller reports DKIMKeyMissing in the Deliverable condition until the record is visible in DNS.',
        '',
      ];
      process.stdout.write(lines.join('\n'));
    });
}
