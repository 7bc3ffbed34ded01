/** Where the CLI writes: stdout and stderr, or captures in tests. */
export interface CliIo {
  out: { write(s: string): unknown; isTTY?: boolean };
  err: { write(s: string): unknown; isTTY?: boolean };
}
