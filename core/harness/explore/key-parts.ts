/** Parts of the explored world's state key that are read from the model's private fields. */
import type { DvmaBroker } from "../../model/domains/broker.ts";

/**
 * Private fields the future depends on (reply caches, pending ids, channel epochs), read for the
 * state hash only: a Map or Set by its keys, a Signal by whether it fired, arrival times relative.
 */
export function hidden(o: object, names: string[]): string {
  const r = o as unknown as Record<string, unknown>;
  return JSON.stringify(
    names.map((n) => r[n]),
    (_k, v: unknown) => {
      if (v instanceof Map) return [...v.entries()];
      if (v instanceof Set) return [...v];
      if (ArrayBuffer.isView(v))
        return Bun.hash.wyhash(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).toString();
      if (v === null || typeof v !== "object") return v;
      if ("triggered" in v) return (v as { triggered: boolean }).triggered;
      // The machine itself is hashed apart; a reference to it is only a name here.
      const kind = (v as object).constructor?.name;
      if (kind === "LdcChannel" || kind === "Hypervisor" || kind === "Simulator") return kind;
      return v;
    },
  );
}

/** Fields of a policy that only count (history, not state): left out of the state key. */
const COUNTERS = new Set(["allocations", "failures"]);

/**
 * A guest's local policy as far as its future depends on it: the checked wrapper's page states
 * and the policy's own fields (free bitmap, held ranges, next-fit hints), counters left out.
 */
export function policyKey(policy: object): string {
  const p = policy as { inner?: object };
  const fields = (o: object) => Object.keys(o).filter((k) => !COUNTERS.has(k) && k !== "inner");
  return hidden(policy, fields(policy)) + (p.inner ? hidden(p.inner, fields(p.inner)) : "");
}

/** What a policy replay holds that the state key reads: the meter's live records. */
type Replay = { meter: { ops: number[]; length: number } };

/**
 * A window's global policy (lost in a crash, rebuilt on restart) and the work its calls have yet
 * to charge to the broker's CPU.
 */
export function globalPolicyKey(broker: DvmaBroker, devhandle: number): string {
  const p = broker.policies.get(devhandle);
  const replays = (broker.policies as unknown as { replays: Map<number, Replay> }).replays;
  const m = replays.get(devhandle)?.meter;
  return `${p === undefined ? "none" : policyKey(p)}${m === undefined ? "" : m.ops.slice(0, m.length).join(",")}`;
}
