/** The live plugin's options and the rule that a server reachable from other hosts needs a token. */

import { InputError, type Static, Type } from "../../core/index.ts";

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
        minLength: 1,
        description: "required as `Authorization: Bearer <token>` or `?token=`",
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

/** @throws InputError when `host` is reachable from elsewhere and no token protects it. */
export function checkBind(opts: LiveOptions): void {
  if (opts.token === undefined && !isLoopback(opts.host)) {
    throw new InputError(
      `live: refusing to serve on ${opts.host} without a token: anyone who can reach that address ` +
        "could read the simulation and start runs. Bind to 127.0.0.1 (the default) or set a token " +
        "(--token <secret>, or the `token` option).",
      [{ path: "/token", message: "required when host is not loopback", value: undefined }],
    );
  }
}
