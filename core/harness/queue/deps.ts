import { InputError } from "../../input/errors.ts";

/**
 * The queue's packages, loaded only when a sweep uses a queue. BullMQ loads its Redis client
 * (`ioredis`, an optional peer of BullMQ) lazily and, when it is missing, retries and prints the
 * same error forever; so it is resolved here first, and its absence is one line before any work.
 */
export async function loadQueueDeps() {
  try {
    Bun.resolveSync("ioredis", import.meta.dir);
    Bun.resolveSync("bullmq", import.meta.dir);
  } catch {
    throw new InputError(
      "--queue needs the packages bullmq and ioredis (the Redis client BullMQ uses); run `bun install` in the repository",
    );
  }
  const [bullmq, ioredis] = await Promise.all([import("bullmq"), import("ioredis")]);
  return { bullmq, Redis: ioredis.default };
}

export type QueueDeps = Awaited<ReturnType<typeof loadQueueDeps>>;
