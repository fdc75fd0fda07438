// Runs one of the repository's shell scripts from a test (the control plane's,
// the node's, the image builds): stdin closed, progress streamed to stderr when
// asked, and on failure an error with the script's last lines and why it ended.
import path from 'node:path';
import { execa } from 'execa';

export interface RunScriptOptions {
  timeoutMs: number;
  /** Stream the script's output to this process's stderr as it runs. */
  verbose?: boolean;
  cwd?: string;
  /** How many lines of output the error keeps (default: all). */
  tailLines?: number;
}

/** Run `bash script args...`; resolve with its stdout, or throw with its output. */
export async function runScript(script: string, args: string[], opts: RunScriptOptions): Promise<{ stdout: string; all: string }> {
  const r = await execa('bash', [script, ...args], {
    cwd: opts.cwd,
    all: true,
    reject: false,
    timeout: opts.timeoutMs,
    stdin: 'ignore',
    stdout: opts.verbose ? ['pipe', 'inherit'] : 'pipe',
    stderr: opts.verbose ? ['pipe', 'inherit'] : 'pipe',
  });
  const all = String(r.all ?? '');
  if (r.failed) {
    const why = r.timedOut ? `timed out after ${opts.timeoutMs / 1000} s` : `exit code ${String(r.exitCode)}`;
    const shown = opts.tailLines ? all.split('\n').slice(-opts.tailLines).join('\n') : all;
    throw new Error(`${path.basename(path.dirname(script))}/${path.basename(script)} ${args.join(' ')} failed (${why}):\n${shown}`);
  }
  return { stdout: String(r.stdout ?? ''), all };
}
