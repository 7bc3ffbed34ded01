import { describe, expect, test } from "bun:test";
import {
  CHOOSE_AGAIN,
  type Proc,
  type Process,
  Simulator,
} from "../../../../core/model/sim/index.ts";

/** Three processes and two callbacks, all due at t=0 and t=5; returns the order they ran in. */
function world(sim: Simulator): string[] {
  const log: string[] = [];
  function* p(name: string): Proc {
    log.push(`${name}@${sim.now}`);
    yield 5;
    log.push(`${name}@${sim.now}`);
  }
  for (const n of ["a", "b", "c"]) sim.spawn(p(n), n);
  sim.schedule(0, () => log.push(`cb1@${sim.now}`));
  sim.schedule(5, () => log.push(`cb2@${sim.now}`));
  return log;
}

describe("event chooser", () => {
  test("without one, simultaneous events run FIFO", () => {
    const sim = new Simulator();
    const log = world(sim);
    sim.run();
    expect(log).toEqual(["a@0", "b@0", "c@0", "cb1@0", "cb2@5", "a@5", "b@5", "c@5"]);
  });

  test("choosing 0 everywhere is the FIFO order; it is asked before every event", () => {
    const sim = new Simulator();
    const log = world(sim);
    const asked: number[] = [];
    sim.chooser = (n) => {
      asked.push(n);
      return 0;
    };
    sim.run();
    expect(log).toEqual(["a@0", "b@0", "c@0", "cb1@0", "cb2@5", "a@5", "b@5", "c@5"]);
    expect(asked).toEqual([4, 3, 2, 1, 4, 3, 2, 1]);
  });

  test("the last candidate every time reverses the queue at each instant; none is lost or run twice", () => {
    const sim = new Simulator();
    const log = world(sim);
    sim.chooser = (n) => n - 1;
    sim.run();
    expect(log).toEqual(["cb1@0", "c@0", "b@0", "a@0", "a@5", "b@5", "c@5", "cb2@5"]);
    expect(sim.eventsProcessed).toBe(8);
  });

  test("candidates name their process, or null for a callback", () => {
    const sim = new Simulator();
    world(sim);
    const seen: string[] = [];
    sim.chooser = (n, candidate) => {
      if (seen.length === 0)
        for (let i = 0; i < n; i++) seen.push(candidate(i)?.name ?? "callback");
      return 0;
    };
    sim.run();
    expect(seen).toEqual(["a", "b", "c", "callback"]);
  });

  test("a recorded schedule replays to the same order", () => {
    const picks: number[] = [];
    const sim1 = new Simulator();
    const log1 = world(sim1);
    let x = 7;
    sim1.chooser = (n) => {
      x = (x * 31 + 3) % 101;
      picks.push(x % n);
      return x % n;
    };
    sim1.run();
    const sim2 = new Simulator();
    const log2 = world(sim2);
    let i = 0;
    sim2.chooser = () => picks[i++]!;
    sim2.run();
    expect(log2).toEqual(log1);
    expect(i).toBe(picks.length);
  });

  test("a cancelled event is never offered", () => {
    const sim = new Simulator();
    const ran: string[] = [];
    const t = sim.schedule(0, () => ran.push("cancelled"));
    sim.schedule(0, () => ran.push("kept"));
    sim.cancel(t);
    const offered: number[] = [];
    sim.chooser = (n) => {
      offered.push(n);
      return 0;
    };
    sim.run();
    expect(ran).toEqual(["kept"]);
    expect(offered).toEqual([1]);
  });

  test("while it chooses, the clock reads the instant of the events due, not the last event's", () => {
    const sim = new Simulator();
    world(sim);
    const at: number[] = [];
    sim.chooser = () => {
      at.push(sim.now);
      return 0;
    };
    sim.run();
    expect(at).toEqual([0, 0, 0, 0, 5, 5, 5, 5]);
  });

  test("what the chooser starts between events starts at that instant and, after CHOOSE_AGAIN, is offered then", () => {
    const sim = new Simulator();
    const log = world(sim);
    let struck = false;
    const offered: number[] = [];
    sim.chooser = (n) => {
      offered.push(n);
      if (sim.now === 5 && !struck) {
        struck = true; // a fault: a process that starts now, and a timer
        sim.spawn(
          (function* (): Proc {
            log.push(`fault@${sim.now}`);
            yield 0;
          })(),
          "fault",
        );
        sim.schedule(0, () => log.push(`timer@${sim.now}`));
        return CHOOSE_AGAIN;
      }
      return n - 1; // the newest first: what the fault made runs before what was due
    };
    sim.run();
    expect(log).toEqual([
      "cb1@0",
      "c@0",
      "b@0",
      "a@0",
      "timer@5",
      "fault@5",
      "a@5",
      "b@5",
      "c@5",
      "cb2@5",
    ]);
    // The fault process yields 0 once: it is due again at 5, so 5 are offered twice.
    expect(offered).toEqual([4, 3, 2, 1, 4, 6, 5, 5, 4, 3, 2, 1]);
  });

  test("an event due now that the chooser cancels is not offered again, nor run", () => {
    const sim = new Simulator();
    const ran: string[] = [];
    const doomed = sim.schedule(0, () => ran.push("cancelled"));
    sim.schedule(0, () => ran.push("kept"));
    const offered: number[] = [];
    sim.chooser = (n) => {
      offered.push(n);
      if (offered.length === 1) {
        sim.cancel(doomed);
        return CHOOSE_AGAIN;
      }
      return 0;
    };
    sim.run();
    expect(ran).toEqual(["kept"]);
    expect(offered).toEqual([2, 1]);
    expect(sim.pending).toBe(0);
  });

  test("a choice out of range is refused", () => {
    const sim = new Simulator();
    world(sim);
    sim.chooser = (n) => n;
    expect(() => sim.run()).toThrow(/chooser picked 4 of 4 events/);
  });

  test("forEachPending lists what is scheduled, processes by name", () => {
    const sim = new Simulator();
    world(sim);
    const pending: string[] = [];
    sim.forEachPending((t, p: Process<unknown> | null) => pending.push(`${t}:${p?.name ?? "cb"}`));
    expect(pending.sort()).toEqual(["0:a", "0:b", "0:c", "0:cb", "5:cb"]);
  });
});
