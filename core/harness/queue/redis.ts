import { describeThrown, InputError } from "../../input/errors.ts";
import type { QueueDeps } from "./deps.ts";
import type { QueueAddress } from "./redis-url.ts";

export type Redis = InstanceType<QueueDeps["Redis"]>;

/** How long the first connection may take before the address is reported unreachable (assumed). */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A connection for BullMQ (which wants commands to wait, never fail, while Redis is away), after
 * one probe that fails fast, so a wrong address is one line before any work. Later losses are
 * logged once each, with the reconnection.
 */
export async function reachRedis(
  Client: QueueDeps["Redis"],
  addr: QueueAddress,
  log: (line: string) => void,
): Promise<Redis> {
  const where = { host: addr.host, port: addr.port, db: addr.db };
  const probe = new Client({
    ...where,
    lazyConnect: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let cause: unknown;
  probe.on("error", (e) => (cause ??= e)); // the first says why (ECONNREFUSED…); reported below
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    throw new InputError(`cannot reach Redis at ${addr.url}: ${describeThrown(cause ?? e)}`);
  } finally {
    probe.disconnect();
  }
  const r = new Client({ ...where, maxRetriesPerRequest: null });
  let lost = false;
  r.on("error", () => {}); // the connection retries; "reconnecting" reports it once
  r.on("reconnecting", () => {
    if (lost) return;
    lost = true;
    log(`queue: lost Redis at ${addr.url}; reconnecting`);
  });
  r.on("ready", () => {
    if (!lost) return;
    lost = false;
    log(`queue: Redis at ${addr.url} is back`);
  });
  return r;
}

/**
 * Another connection like `r` (BullMQ wants one per role); its errors are the retries that `r`
 * already reports, so they are not printed again.
 */
export function sibling(r: Redis): Redis {
  const c = r.duplicate();
  c.on("error", () => {});
  return c;
}
