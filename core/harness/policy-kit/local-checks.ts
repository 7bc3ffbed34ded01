import { PluginError } from "../../input/errors.ts";
import type { CheckedLocalPolicy } from "../../model/domains/checked-local.ts";
import type { Rng } from "../../model/sim/rng.ts";
import {
  BLOCK,
  type CheckBody,
  CPUS,
  type Env,
  expectStats,
  randomOperations,
  requestAlign,
  requestSize,
  type Span,
  STEPS,
  type Where,
} from "./kit-common.ts";

/** The policy kit's checks of a local policy, driven against a model of its ranges and allocations. */

// ---- local policies ----

class LocalDriver {
  readonly ranges: Span[] = [];
  readonly allocs: Span[] = [];

  constructor(
    readonly name: string,
    readonly policy: CheckedLocalPolicy,
    readonly rng: Rng,
  ) {}

  add(base: number, npages: number): void {
    this.policy.addRange(base, npages);
    this.ranges.push({ base, npages });
  }

  /** Adds a random range where nothing is held (sometimes right after a held one). */
  addSomewhere(): void {
    const w = this.policy.windowPages;
    const npages = this.rng.chance(0.7) ? this.rng.int(1, 65) : this.rng.int(65, (w >> 2) + 1);
    let base = this.rng.int(0, w - npages + 1);
    if (this.ranges.length > 0 && this.rng.chance(0.3)) {
      const r = this.rng.pick(this.ranges);
      base = Math.min(r.base + r.npages, w - npages);
    }
    for (let p = base; p < base + npages; p++) if (this.policy.stateOf(p) !== "none") return;
    this.add(base, npages);
  }

  alloc(npages: number, align: number, cpu: number, limit?: number): number {
    const page =
      limit === undefined
        ? this.policy.alloc(npages, align, cpu)
        : this.policy.alloc(npages, align, cpu, limit);
    if (page >= 0) this.allocs.push({ base: page, npages });
    return page;
  }

  freeAt(i: number): void {
    const a = this.allocs[i];
    this.allocs[i] = this.allocs[this.allocs.length - 1];
    this.allocs.pop();
    this.policy.free(a.base, a.npages, this.rng.int(0, CPUS));
  }

  freeAll(): void {
    while (this.allocs.length > 0) this.freeAt(this.rng.int(0, this.allocs.length));
  }

  /** Removes a held range, freeing the allocations that reach into it first. */
  removeAt(i: number): void {
    const r = this.ranges[i];
    for (let j = this.allocs.length - 1; j >= 0; j--) {
      const a = this.allocs[j];
      if (a.base < r.base + r.npages && a.base + a.npages > r.base) this.freeAt(j);
    }
    this.ranges.splice(i, 1);
    this.policy.removeRange(r.base, r.npages);
  }

  /** Removes every range and adds it back (a policy flushes its caches on removeRange). */
  cycleRanges(): void {
    const all = [...this.ranges];
    while (this.ranges.length > 0) this.removeAt(this.rng.int(0, this.ranges.length));
    for (const r of all) this.add(r.base, r.npages);
  }

  randomOps(steps: number, where: Where, label: string): void {
    for (let step = 0; step < steps; step++) {
      where.at = `${label}, step ${step}`;
      const r = this.rng.float();
      if (r < 0.08 || this.ranges.length === 0) this.addSomewhere();
      else if (r < 0.12) this.removeAt(this.rng.int(0, this.ranges.length));
      else if (r < 0.65 || this.allocs.length === 0) {
        const w = this.policy.windowPages;
        // A quarter of the requests come from a device that reaches only part of the window.
        const limit = this.rng.chance(0.25) ? this.rng.int(1, w + 1) : undefined;
        this.alloc(requestSize(this.rng, w), requestAlign(this.rng), this.rng.int(0, CPUS), limit);
      } else this.freeAt(this.rng.int(0, this.allocs.length));
      this.expectStats();
    }
  }

  /** Single-page allocations, rotating CPUs, until one fails; returns how many succeeded. */
  fill(): number {
    let n = 0;
    while (this.alloc(1, 1, n % CPUS) >= 0) n++;
    return n;
  }

  expectFilled(what: string): void {
    const free = this.policy.heldPages - this.policy.allocatedPages;
    const got = this.fill();
    if (got !== free) {
      throw new PluginError(
        this.name,
        "alloc",
        `returned -1 for alloc(npages 1, align 1) ${what}, with ${free - got} of ${this.policy.heldPages} held pages free`,
        { value: -1 },
      );
    }
  }

  expectStats(): void {
    expectStats(this.name, this.policy.stats(), this.policy.allocatedPages);
  }
}

export function localChecks(env: Env, make: () => CheckedLocalPolicy): [string, CheckBody][] {
  const { name, windowPages: w, runs } = env;
  const driver = (rng: Rng) => new LocalDriver(name, make(), rng);
  return [
    randomOperations(
      runs,
      driver,
      (allocations) =>
        `${runs} runs of ${STEPS} addRange/removeRange/alloc/free calls (${allocations} allocations), every answer inside the held ranges, aligned, never overlapping; stats exact`,
    ),
    [
      "frees what it allocates",
      (rng, where) => {
        const n = Math.max(1, runs >> 2);
        for (let run = 0; run < n; run++) {
          const d = driver(rng);
          d.randomOps(STEPS / 2, where, `run ${run}`);
          where.at = `run ${run}, after freeing everything`;
          d.freeAll();
          d.expectStats();
          d.cycleRanges();
          d.expectFilled("after everything was freed");
          d.freeAll();
          d.expectStats();
        }
        return `${n} runs: after freeing everything stats show 0 allocated and every held page can be allocated again`;
      },
    ],
    [
      "survives exhaustion",
      (rng, where) => {
        const d = driver(rng);
        where.at = "filling three ranges";
        d.add(0, w >> 3);
        d.add(w >> 2, w >> 3);
        d.add(w - (w >> 3), w >> 3);
        d.expectFilled("while filling the held ranges");
        const held = d.policy.heldPages;
        for (const npages of [1, 2, 3, 8, 33, held, w]) {
          for (let cpu = 0; cpu < CPUS; cpu++) {
            where.at = `all ${held} pages allocated, alloc(${npages}) on cpu ${cpu}`;
            d.alloc(npages, 1, cpu);
            d.alloc(npages, 8, cpu);
          }
        }
        for (let i = 0; i < runs; i++) {
          const j = rng.int(0, d.allocs.length);
          const page = d.allocs[j].base;
          where.at = `all pages allocated but ${page}, freed on another cpu`;
          d.freeAt(j);
          if (d.alloc(1, 1, rng.int(0, CPUS)) < 0) {
            throw new PluginError(
              name,
              "alloc",
              `returned -1 for alloc(npages 1, align 1) with page ${page} free`,
              {
                value: -1,
              },
            );
          }
          d.expectStats();
        }
        return `all ${held} held pages allocated; further requests refused (-1, no throw); a page freed then is allocated again (${runs} times)`;
      },
    ],
    [
      "survives fragmentation",
      (rng, where) => {
        const d = driver(rng);
        const base = w >> 2;
        const span = w >> 1;
        where.at = "filling one range";
        d.add(base, span);
        d.expectFilled("while filling the range");
        where.at = "freeing every other page";
        for (let i = d.allocs.length - 1; i >= 0; i--) if (d.allocs[i].base % 2 === 0) d.freeAt(i);
        d.expectStats();
        for (const npages of [2, 4, BLOCK, span >> 2, span >> 1]) {
          where.at = `every other page free, alloc(${npages})`;
          d.alloc(npages, 1, rng.int(0, CPUS));
          d.alloc(npages, npages, rng.int(0, CPUS));
        }
        where.at = "every other page free, refilling the holes";
        d.expectFilled("into the holes of every other page");
        const block = base + (span >> 1);
        where.at = `pages [${block}, ${block + BLOCK}) freed, the rest allocated`;
        for (let i = d.allocs.length - 1; i >= 0; i--) {
          const p = d.allocs[i].base;
          if (p >= block && p < block + BLOCK) d.freeAt(i);
        }
        if (d.alloc(BLOCK, BLOCK, rng.int(0, CPUS)) < 0) {
          throw new PluginError(
            name,
            "alloc",
            `returned -1 for alloc(npages ${BLOCK}, align ${BLOCK}) with pages [${block}, ${block + BLOCK}) free`,
            { value: -1 },
          );
        }
        d.expectStats();
        where.at = "after freeing everything";
        d.freeAll();
        d.cycleRanges();
        d.expectFilled("after the fragmented range was freed");
        return `every other page of ${span} freed: larger requests refused or placed correctly, the holes refilled, a freed ${BLOCK}-page block allocated whole`;
      },
    ],
  ];
}
