import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ANY_VCPU, DomainCpu, type Proc, Simulator } from "../../../../core/index.ts";
import { Lock } from "../../../../core/model/sim/lock.ts";

describe("DomainCpu", () => {
  test("work on one vCPU queues behind it even when other vCPUs are idle", () => {
    const sim = new Simulator();
    const cpu = new DomainCpu(sim, 4);
    const done: number[] = [];
    for (let i = 0; i < 3; i++)
      sim.spawn(
        (function* () {
          yield* cpu.run(1, 100);
          done.push(sim.now);
        })(),
      );
    sim.run();
    expect(done).toEqual([100, 200, 300]);
    expect(cpu.vcpuUtilisation(300)).toEqual([0, 1, 0, 0]);
    expect(cpu.utilisation(300)).toBe(0.25);
  });

  test("ANY_VCPU work one after another takes the strands in turn, skipping busy ones", () => {
    const sim = new Simulator();
    const cpu = new DomainCpu(sim, 4);
    expect(cpu.tryTake(2)).toBe(2); // pinned work holds strand 2
    const got: number[] = [];
    for (let i = 0; i < 6; i++) {
      const v = cpu.tryTake(ANY_VCPU);
      got.push(v);
      cpu.free(v);
    }
    expect(got).toEqual([0, 1, 3, 0, 1, 3]);
  });

  test("ANY_VCPU work spreads over free strands and queues only when all are busy", () => {
    const sim = new Simulator();
    const cpu = new DomainCpu(sim, 2);
    const done: number[] = [];
    for (let i = 0; i < 3; i++)
      sim.spawn(
        (function* () {
          yield* cpu.run(ANY_VCPU, 100);
          done.push(sim.now);
        })(),
      );
    sim.run();
    expect(done).toEqual([100, 100, 200]);
    expect(cpu.busyNs).toBe(300);
  });

  test("a free vCPU serves its own waiters before ANY waiters", () => {
    const sim = new Simulator();
    const cpu = new DomainCpu(sim, 1);
    const order: string[] = [];
    const job = (name: string, c: number) =>
      sim.spawn(
        (function* () {
          yield* cpu.run(c, 10);
          order.push(name);
        })(),
      );
    job("first", 0);
    sim.schedule(1, () => job("any", ANY_VCPU));
    sim.schedule(2, () => job("pinned", 0));
    sim.run();
    expect(order).toEqual(["first", "pinned", "any"]);
  });

  test("a spinner keeps its vCPU busy while it waits; a sleeper frees it for other work", () => {
    for (const kind of ["spin", "sleep"] as const) {
      const sim = new Simulator();
      const cpu = new DomainCpu(sim, 2);
      const lock = new Lock(sim, "l", kind);
      let otherDone = -1;
      // vCPU 0 holds the lock for 1000 ns; vCPU 1 wants it, then other work wants vCPU 1.
      sim.spawn(
        (function* (): Proc<void> {
          const v = yield* cpu.take(0);
          yield* cpu.lock(lock, v, 0, true);
          yield 1000;
          lock.release();
          cpu.free(v);
        })(),
      );
      sim.schedule(10, () =>
        sim.spawn(
          (function* (): Proc<void> {
            let v = yield* cpu.take(1);
            v = yield* cpu.lock(lock, v, 1, true);
            yield 100;
            lock.release();
            cpu.free(v);
          })(),
        ),
      );
      sim.schedule(20, () =>
        sim.spawn(
          (function* (): Proc<void> {
            yield* cpu.run(1, 50);
            otherDone = sim.now;
          })(),
        ),
      );
      sim.run();
      if (kind === "spin") {
        // vCPU 1 burned 10..1100 spinning and working; the other work ran after it.
        expect(otherDone).toBe(1150);
        expect(cpu.vcpuBusyNs(1)).toBe(1090 + 50);
      } else {
        // The sleeper freed vCPU 1 at once: the other work ran at 20..70, the sleeper's after 1000.
        expect(otherDone).toBe(70);
        expect(cpu.vcpuBusyNs(1)).toBe(50 + 100);
      }
      expect(lock.stats.waitNs).toBe(990);
      expect(lock.stats.maxSpinNs).toBe(kind === "spin" ? 990 : 0);
    }
  });

  test("freeing a vCPU that is not held is an error", () => {
    expect(() => new DomainCpu(new Simulator(), 2).free(1)).toThrow(/not held/);
    expect(() => new DomainCpu(new Simulator(), 0)).toThrow(RangeError);
  });

  test("no vCPU is ever above 100% busy, whatever the mix of work and locks (property)", () => {
    const job = fc.record({
      at: fc.nat(2000),
      cpu: fc.integer({ min: -1, max: 7 }),
      before: fc.nat(300),
      lock: fc.option(fc.nat(2)),
      inside: fc.nat(300),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom("spin", "sleep"),
        fc.array(job, { maxLength: 40 }),
        (strands, kind, jobs) => {
          const sim = new Simulator();
          const cpu = new DomainCpu(sim, strands);
          const locks = [0, 1, 2].map((i) => new Lock(sim, `l${i}`, kind));
          for (const j of jobs)
            sim.at(j.at, () =>
              sim.spawn(
                (function* (): Proc<void> {
                  let v = yield* cpu.take(j.cpu);
                  if (j.before > 0) yield j.before;
                  if (j.lock !== null) {
                    v = yield* cpu.lock(locks[j.lock]!, v, j.cpu, true);
                    if (j.inside > 0) yield j.inside;
                    locks[j.lock]!.release();
                  }
                  cpu.free(v);
                })(),
              ),
            );
          // Sample every vCPU while running: busy time never outruns the clock.
          const probe = (): void => {
            for (let v = 0; v < strands; v++)
              if (cpu.vcpuBusyNs(v) > sim.now) throw new Error(`vCPU ${v} over 100%`);
            if (sim.pending > 0) sim.schedule(37, probe);
          };
          sim.schedule(1, probe);
          sim.run();
          const end = Math.max(1, sim.now);
          for (const u of cpu.vcpuUtilisation(end)) expect(u).toBeLessThanOrEqual(1);
          const work = jobs.reduce((n, j) => n + j.before + (j.lock === null ? 0 : j.inside), 0);
          // Every ns of work was spent on a vCPU (spinning adds to it, nothing is lost).
          expect(cpu.busyNs).toBeGreaterThanOrEqual(work);
          expect(cpu.backlog).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
