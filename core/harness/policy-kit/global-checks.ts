import { PluginError } from "../../input/errors.ts";
import type { CheckedGlobalPolicy } from "../../model/domains/checked-global.ts";
import { isRefusal } from "../../model/domains/policy.ts";
import type { Rng } from "../../model/sim/rng.ts";
import {
  BLOCK,
  type CheckBody,
  CONTROL,
  type Env,
  expectStats,
  GUESTS,
  randomOperations,
  requestAlign,
  requestSize,
  type Span,
  STEPS,
  type Where,
} from "./kit-common.ts";

/** The policy kit's checks of a global policy, driven against a model of its grants. */

interface Grant extends Span {
  domain: number;
}

class GlobalDriver {
  readonly grants: Grant[] = [];

  constructor(
    readonly name: string,
    readonly policy: CheckedGlobalPolicy,
    readonly rng: Rng,
  ) {}

  grant(domain: number, npages: number, align: number): number {
    const got = this.policy.grant(domain, npages, align);
    if (isRefusal(got)) return -1;
    this.grants.push({ domain, base: got, npages });
    return got;
  }

  revokeAt(i: number): void {
    const g = this.grants[i];
    this.grants[i] = this.grants[this.grants.length - 1];
    this.grants.pop();
    this.policy.revoke(g.domain, g.base, g.npages);
  }

  /** The domain dies: its grants are revoked one by one, then it is reclaimed. */
  die(domain: number): void {
    for (let i = this.grants.length - 1; i >= 0; i--)
      if (this.grants[i].domain === domain) this.revokeAt(i);
    this.policy.reclaim(domain);
  }

  revokeAll(): void {
    for (const d of [CONTROL, ...GUESTS]) this.die(d);
  }

  randomOps(steps: number, where: Where, label: string): void {
    for (let step = 0; step < steps; step++) {
      where.at = `${label}, step ${step}`;
      const r = this.rng.float();
      if (r < 0.55 || this.grants.length === 0) {
        const domain = this.rng.chance(0.1) ? CONTROL : this.rng.pick(GUESTS);
        this.grant(domain, requestSize(this.rng, this.policy.windowPages), requestAlign(this.rng));
      } else if (r < 0.95) this.revokeAt(this.rng.int(0, this.grants.length));
      else this.die(this.rng.pick(GUESTS));
      this.expectStats();
    }
  }

  /** Single-page grants round-robin over the guests until every guest is refused. */
  fill(): number {
    let n = 0;
    const open = new Set<number>(GUESTS);
    while (open.size > 0 && n <= this.policy.windowPages) {
      for (const d of [...open]) {
        if (this.grant(d, 1, 1) >= 0) n++;
        else open.delete(d);
      }
    }
    return n;
  }

  expectStats(): void {
    expectStats(this.name, this.policy.stats(), this.policy.livePages());
  }
}

export function globalChecks(env: Env, make: () => CheckedGlobalPolicy): [string, CheckBody][] {
  const { name, windowPages: w, runs } = env;
  const driver = (rng: Rng) => new GlobalDriver(name, make(), rng);
  let fresh = -1;
  /** Pages a new policy grants before refusing every guest. */
  const freshFill = (rng: Rng, where: Where): number => {
    where.at = "filling a new policy";
    if (fresh < 0) fresh = driver(rng).fill();
    if (fresh === 0)
      throw new PluginError(name, "grant", "refused every single-page grant in an empty window");
    return fresh;
  };
  const expectRefill = (d: GlobalDriver, expected: number, what: string) => {
    const got = d.fill();
    if (got !== expected) {
      throw new PluginError(
        name,
        "grant",
        `the window filled to ${got} pages ${what}; a new policy fills it to ${expected}`,
        { value: got },
      );
    }
  };
  return [
    randomOperations(
      runs,
      driver,
      (grants) =>
        `${runs} runs of ${STEPS} grant/revoke/reclaim calls for ${GUESTS.length} guests and the control domain (${grants} grants), every grant inside the window, aligned, never overlapping; stats exact`,
    ),
    [
      "frees what it grants",
      (rng, where) => {
        const full = freshFill(rng, where);
        const n = Math.max(1, runs >> 2);
        for (let run = 0; run < n; run++) {
          const d = driver(rng);
          d.randomOps(STEPS / 2, where, `run ${run}`);
          where.at = `run ${run}, after revoking everything`;
          d.revokeAll();
          d.expectStats();
          expectRefill(d, full, "after everything was revoked");
        }
        return `${n} runs: after revoking and reclaiming everything stats show 0 granted and the window fills again to ${full} of ${w} pages`;
      },
    ],
    [
      "survives exhaustion",
      (rng, where) => {
        const full = freshFill(rng, where);
        const d = driver(rng);
        where.at = "filling the window";
        expectRefill(d, full, "from new");
        for (const npages of [1, 2, 8, w]) {
          for (const domain of [CONTROL, ...GUESTS]) {
            where.at = `window full, grant(domain ${domain}, ${npages})`;
            const got = d.grant(domain, npages, 1);
            if (got >= 0 && domain !== CONTROL) {
              throw new PluginError(
                name,
                "grant",
                `granted ${got} to guest ${domain}, which had already been refused`,
                {
                  value: got,
                },
              );
            }
          }
        }
        for (let i = 0; i < runs; i++) {
          const j = rng.int(0, d.grants.length);
          const { domain, base } = d.grants[j];
          where.at = `window full but page ${base}, revoked from domain ${domain}`;
          d.revokeAt(j);
          if (d.grant(domain, 1, 1) < 0) {
            throw new PluginError(
              name,
              "grant",
              `refused grant(domain ${domain}, 1) with page ${base} just revoked from it`,
            );
          }
          d.expectStats();
        }
        return `window full (${full} pages): further grants refused with a reason, no throw; a page revoked then is granted again (${runs} times)`;
      },
    ],
    [
      "survives fragmentation",
      (rng, where) => {
        const full = freshFill(rng, where);
        const d = driver(rng);
        where.at = "filling the window";
        expectRefill(d, full, "from new");
        where.at = "revoking every other page";
        for (let i = d.grants.length - 1; i >= 0; i--)
          if (d.grants[i].base % 2 === 0) d.revokeAt(i);
        d.expectStats();
        for (const npages of [2, 4, BLOCK, w >> 3]) {
          for (const domain of GUESTS) {
            where.at = `every other page free, grant(domain ${domain}, ${npages})`;
            d.grant(domain, npages, 1);
            d.grant(domain, npages, npages);
          }
        }
        where.at = "every other page free, refilling the holes";
        d.fill();
        d.expectStats();
        where.at = "after revoking everything";
        d.revokeAll();
        if (d.grant(GUESTS[0], BLOCK, BLOCK) < 0) {
          throw new PluginError(
            name,
            "grant",
            `refused grant(domain ${GUESTS[0]}, ${BLOCK} pages, align ${BLOCK}) in an empty window`,
          );
        }
        d.revokeAll();
        expectRefill(d, full, "after the fragmented window was revoked");
        return `every other page revoked: larger grants refused or placed correctly, holes refilled; after revoking everything a ${BLOCK}-page aligned grant succeeds and the window fills again`;
      },
    ],
    [
      "restore and reclaim",
      (rng, where) => {
        const full = freshFill(rng, where);
        const n = Math.max(1, runs >> 2);
        for (let run = 0; run < n; run++) {
          const d = driver(rng);
          where.at = `run ${run}, rebuilding the ledger`;
          const restored: Grant[] = [];
          for (let p = rng.int(0, 16); p < w; ) {
            const npages = Math.min(rng.int(1, 40), w - p);
            const domain = rng.chance(0.15) ? CONTROL : rng.pick(GUESTS);
            const last = restored[restored.length - 1];
            // Runs as dvma_info reports them: adjacent pages of one owner come back as one.
            if (last?.domain === domain && last.base + last.npages === p) last.npages += npages;
            else restored.push({ domain, base: p, npages });
            p += npages + (rng.chance(0.4) ? 0 : rng.int(1, 48));
          }
          for (const r of restored) d.policy.restore(r.domain, r.base, r.npages);
          d.expectStats();
          where.at = `run ${run}, granting around the restored runs`;
          for (let i = 0; i < 60; i++) {
            d.grant(rng.pick(GUESTS), requestSize(rng, w), requestAlign(rng));
            d.expectStats();
          }
          where.at = `run ${run}, revoking the restored runs in pieces`;
          for (const r of restored) {
            for (let p = r.base; p < r.base + r.npages; ) {
              const piece = Math.min(rng.int(1, 12), r.base + r.npages - p);
              d.policy.revoke(r.domain, p, piece);
              p += piece;
              d.expectStats();
            }
          }
          where.at = `run ${run}, after revoking everything`;
          d.revokeAll();
          d.expectStats();
          expectRefill(d, full, "after a rebuild was revoked");
        }
        return `${n} rebuilds: grants keep off restored runs, runs revoked in pieces, reclaim leaves 0 granted and the window fills again`;
      },
    ],
  ];
}
