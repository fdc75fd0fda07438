// Errors the CLI reports as one line and a non-zero exit, never a stack trace.
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Exit code 2 for bad usage or bad input, as most Unix tools do. */
export const usageError = (message: string) => new CliError(message, 2);
