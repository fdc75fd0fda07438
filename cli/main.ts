// The floodgate command line. Every failure is one line on stderr and a
// non-zero exit; stack traces only with FLOODGATE_DEBUG=1.
import { Command, CommanderError } from 'commander';
import { CliError } from './cli-error.js';
import { CaptureError } from '../native/lib/capture-error.js';
import { registerAnalyze } from './analyze-command.js';
import { registerCapture } from './capture-command.js';
import { registerAgent } from './agent-command.js';
import { registerBlocks } from './blocks-command.js';
import { registerDoctor } from './doctor-command.js';
import { registerController } from './controller-command.js';
import { registerAttack } from './attack-command.js';
import { registerNodeIdentity } from './node-identity-command.js';
import { FLOODGATE_VERSION } from '../lib/version.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('floodgate')
    .description('Kubernetes-native DDoS detection and mitigation')
    .version(FLOODGATE_VERSION)
    .exitOverride();
  registerAnalyze(program);
  registerCapture(program);
  registerAgent(program);
  registerBlocks(program);
  registerDoctor(program);
  registerController(program);
  registerAttack(program);
  registerNodeIdentity(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // A command may set process.exitCode (e.g. doctor with a failed check).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed its one-line message (or the help/version text).
      return err.exitCode === 0 ? 0 : 2;
    }
    if (process.env.FLOODGATE_DEBUG === '1') console.error(err);
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    console.error(`floodgate: ${message}`);
    if (err instanceof CliError) return err.exitCode;
    if (err instanceof CaptureError) return err.code === 'FG_INVALID' ? 2 : 1;
    return 1;
  }
}
