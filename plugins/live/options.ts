/** The live plugin's options and the rule that a server reachable from other hosts needs a token. */

import { DurationSchema, InputError, type Static, Type } from "../../core/index.ts";

/** Shortest token accepted: 16 characters (a guessable token is no protection). */
export const MIN_TOKEN_CHARS = 16;

export const LiveOptionsSchema = Type.Object(
  {
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8787,
      description: "TCP port (0 = any free port)",
    }),
    host: Type.String({ minLength: 1, default: "127.0.0.1", description: "address to bind" }),
    token: Type.Optional(
      Type.String({
        minLength: MIN_TOKEN_CHARS,
        description:
          "required as `Authorization: Bearer <token>` or `?token=` (16 characters or more)",
      }),
    ),
    replay: Type.Integer({
      minimum: 0,
      default: 10_000,
      description: "events kept for Last-Event-ID resume",
    }),
    clientQueue: Type.Integer({
      minimum: 1,
      default: 4096,
      description: "events queued per client before the oldest are dropped",
    }),
    maxRuns: Type.Integer({
      minimum: 0,
      default: 2,
      description: "runs started by POST /runs at once",
    }),
    maxDuration: Type.String({
      pattern: DurationSchema.pattern,
      default: "1s",
      description: "budget: longest simulated duration of one run requested over HTTP",
    }),
    maxPoints: Type.Integer({
      minimum: 1,
      default: 64,
      description: "budget: (matrix point, path) runs in one request",
    }),
    maxQueued: Type.String({
      pattern: DurationSchema.pattern,
      default: "10s",
      description: "budget: simulated time of all runs accepted and not yet finished",
    }),
    maxWallSeconds: Type.Integer({
      minimum: 1,
      default: 600,
      description: "budget: wall time a paced request may take (duration x runs / pace)",
    }),
    allowOrigins: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
      default: [],
      maxItems: 32,
      description:
        "origins (scheme://host:port) besides the bound address whose pages may call the server",
    }),
    plugins: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: "plugin files the command line loaded (--plugin): runs over HTTP may name them",
    }),
    heartbeatMs: Type.Integer({
      minimum: 100,
      default: 15_000,
      description:
        "an idle event stream sends a heartbeat this often (the dashboard's watchdog waits two)",
    }),
    maxBodyBytes: Type.Integer({
      minimum: 1,
      default: 16 * 1024,
      description: "largest request body (and WebSocket message)",
    }),
  },
  { additionalProperties: false },
);

export type LiveOptions = Static<typeof LiveOptionsSchema>;

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h.replace(/^::ffff:/, ""));
  return v4?.slice(1).every((x) => Number(x) <= 255) === true;
}

/**
 * @throws InputError when `host` is reachable from elsewhere and no token protects it, or an
 * allowed origin is not scheme://host[:port].
 */
export function checkBind(
  opts: Pick<LiveOptions, "host" | "token"> & { allowOrigins?: readonly string[] },
): void {
  for (const [i, o] of (opts.allowOrigins ?? []).entries()) {
    let ok = false;
    try {
      const u = new URL(o);
      ok = (u.protocol === "http:" || u.protocol === "https:") && u.origin === o.replace(/\/$/, "");
    } catch {
      ok = false;
    }
    if (!ok)
      throw new InputError(
        `live: allowOrigins ${JSON.stringify(o)}: expected an origin such as http://example.test:8080`,
        [{ path: `/allowOrigins/${i}`, message: "not an origin", value: o }],
      );
  }
  if (opts.token === undefined && !isLoopback(opts.host)) {
    throw new InputError(
      `live: refusing to serve on ${opts.host} without a token: anyone who can reach that address ` +
        "could read the simulation and start runs. Bind to 127.0.0.1 (the default) or set a token " +
        "(--token <secret>, or the `token` option).",
      [{ path: "/token", message: "required when host is not loopback", value: undefined }],
    );
  }
}
