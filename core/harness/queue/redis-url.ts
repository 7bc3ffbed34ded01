import { InputError } from "../../input/errors.ts";

/** Where a sweep's queue lives: `redis://host:port[/db]`. */
export interface QueueAddress {
  host: string;
  port: number;
  db: number;
  /** The address as given, for messages. */
  url: string;
}

/** Parses `--queue redis://host:port[/db]`. @throws InputError */
export function parseQueueUrl(text: string): QueueAddress {
  const bad = (why: string) =>
    new InputError(
      `--queue ${JSON.stringify(text)}: ${why}; expected redis://host:port[/db], e.g. redis://127.0.0.1:6379/0`,
    );
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad("not a URL");
  }
  if (u.protocol !== "redis:") throw bad(`scheme ${u.protocol} is not redis:`);
  if (u.hostname === "") throw bad("no host");
  if (u.username !== "" || u.password !== "" || u.search !== "" || u.hash !== "")
    throw bad("only host, port and database are read");
  const port = u.port === "" ? 6379 : Number(u.port);
  const path = u.pathname === "" || u.pathname === "/" ? "0" : u.pathname.slice(1);
  if (!/^\d{1,2}$/.test(path)) throw bad(`database ${JSON.stringify(path)} is not a number`);
  // IPv6 hosts come bracketed in URLs; the client wants them bare.
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  return { host, port, db: Number(path), url: text };
}
