/**
 * A mistake in what the user gave us (a flag, a file, a query). Printed as one line and the
 * command exits with code 2; the stack is shown only with --debug.
 * @example throw new UserError('unknown scenario "sshbrute"; try --list-scenarios')
 */
export class UserError extends Error {
  readonly exitCode = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UserError';
  }
}

/** Formats any thrown value as one line. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ');
}
