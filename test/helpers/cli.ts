import { main } from "../../core/cli/main.ts";

/** Runs the CLI in-process and captures what it prints (neither stream is a terminal). */
export async function cli(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, {
    out: { write: (s: string) => (out += s) },
    err: { write: (s: string) => (err += s) },
  });
  return { code, out, err };
}
