#!/usr/bin/env node
/**
 * `mailroom`: one binary for the controller, the sidecar sender and the tools around them.
 *
 * @module
 */
import { Command } from 'commander';
import { registerControllerCommand } from './controller.ts';
import { registerDevCommand } from './dev.ts';
import { registerDkimCommand } from './dkim.ts';
import { registerProbeCommand } from './probe.ts';
import { registerSidecarCommands } from './sidecar.ts';
import { registerValidateCommand } from './validate.ts';

const program = new Command('mailroom')
  .description('Email sender configurations for Kubernetes: validate, probe and deliver through SMTP')
  .version('0.1.0')
  .showHelpAfterError();

registerControllerCommand(program);
registerSidecarCommands(program);
registerProbeCommand(program);
registerValidateCommand(program);
registerDevCommand(program);
registerDkimCommand(program);

await program.parseAsync(process.argv);
