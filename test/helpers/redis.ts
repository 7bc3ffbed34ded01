import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

/** Debian's redis-server, which .ci/run installs; queue tests skip, saying so, without it. */
export const REDIS_SERVER = Bun.which("redis-server") ?? "/usr/bin/redis-server";
export const HAVE_REDIS = Bun.which("redis-server") !== null;
export const REDIS_SKIP_LINE = `queue tests skipped: redis-server is missing (apt-get install redis-server; .ci/run does)`;

const REPO = resolve(import.meta.dir, "../..");

/** A free TCP port on 127.0.0.1 (taken by the OS, then released for Redis to bind). */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** A private redis-server on 127.0.0.1 and a free port, in a scratch directory. */
export class TestRedis {
  readonly port = freePort();
  readonly url = `redis://127.0.0.1:${this.port}`;
  private readonly dir = mkdtempSync(join(tmpdir(), "sun4v-redis-"));
  private proc?: Subprocess;

  /** Starts (or restarts) the server; `persist` keeps its data across restarts (append-only file). */
  async start(persist = false): Promise<void> {
    this.proc = Bun.spawn(
      [
        REDIS_SERVER,
        "--bind",
        "127.0.0.1",
        "--port",
        String(this.port),
        "--dir",
        this.dir,
        "--save",
        "",
        "--appendonly",
        persist ? "yes" : "no",
      ],
      { stdout: "ignore", stderr: "ignore" },
    );
    for (let i = 0; i < 100; i++) {
      try {
        const c = await Bun.connect({
          hostname: "127.0.0.1",
          port: this.port,
          socket: { data() {} },
        });
        c.end();
        return;
      } catch {
        await Bun.sleep(50);
      }
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }

  /** Stops the server (its data goes unless it persists). */
  async stop(): Promise<void> {
    this.proc?.kill("SIGTERM");
    await this.proc?.exited;
    this.proc = undefined;
  }

  /** The server's process id while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A `bun run scenario worker` process; its stderr lines are collected as they come. */
export class WorkerProcess {
  readonly proc: Subprocess<"ignore", "ignore", "pipe">;
  readonly lines: string[] = [];
  private readonly waiters: { re: RegExp; resolve: (line: string) => void }[] = [];

  constructor(url: string, extra: string[] = []) {
    this.proc = Bun.spawn(
      ["bun", "core/cli/main.ts", "worker", "--queue", url, "--concurrency", "1", ...extra],
      { cwd: REPO, stdin: "ignore", stdout: "ignore", stderr: "pipe" },
    );
    this.read();
  }

  private async read(): Promise<void> {
    let buf = "";
    for await (const chunk of this.proc.stderr) {
      buf += new TextDecoder().decode(chunk);
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        for (const w of [...this.waiters])
          if (w.re.test(line)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(line);
          }
        nl = buf.indexOf("\n");
      }
    }
  }

  /** The first line matching `re`, from line `from` on (past or future). */
  waitFor(re: RegExp, from = 0): Promise<string> {
    const seen = this.lines.slice(from).find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ re, resolve }));
  }

  get id(): string {
    return `:${this.proc.pid}`;
  }

  async stop(): Promise<void> {
    this.proc.kill("SIGTERM");
    await this.proc.exited;
  }
}
