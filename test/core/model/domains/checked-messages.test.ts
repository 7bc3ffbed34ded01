// The checked-policy wrapper's every refusal, report and misuse, read word for word: the messages
// are what a plugin author sees, and the counts and ledger are what the core acts on.
import { describe, expect, test } from "bun:test";
import type {
  GlobalPolicy,
  LocalPolicy,
  PluginError,
  PolicyStats,
  Refusal,
} from "../../../../core/index.ts";
import {
  checkGlobalPolicy,
  MAX_LEDGER_DOMAIN,
} from "../../../../core/model/domains/checked-global.ts";
import { checkLocalPolicy } from "../../../../core/model/domains/checked-local.ts";
import { isCount, isPow2, range } from "../../../../core/model/domains/checked-policy.ts";

const W = 32;

/** A global policy that answers whatever `next` says (a value, or a function of the call). */
function scripted(next: (d: number, n: number, a: number) => unknown) {
  const calls: string[] = [];
  const inner: GlobalPolicy = {
    grant: (d, n, a) => {
      calls.push(`grant ${d} ${n} ${a}`);
      return next(d, n, a) as number | Refusal;
    },
    revoke: (d, b, n) => void calls.push(`revoke ${d} ${b} ${n}`),
    reclaim: (d) => void calls.push(`reclaim ${d}`),
    restore: (d, b, n) => void calls.push(`restore ${d} ${b} ${n}`),
  };
  return { inner, calls };
}

function reporting() {
  const errors: PluginError[] = [];
  return { errors, onError: (e: PluginError) => void errors.push(e) };
}

describe("shared checks", () => {
  test("isPow2, isCount and range", () => {
    expect([1, 2, 4, 2 ** 30].map(isPow2)).toEqual([true, true, true, true]);
    expect([0, -2, 3, 6, 1.5, 2 ** 31, Number.NaN].map(isPow2)).toEqual(Array(7).fill(false));
    expect([1, 7].map(isCount)).toEqual([true, true]);
    expect([0, -1, 1.5, Number.NaN].map(isCount)).toEqual([false, false, false, false]);
    expect(range(3, 4)).toBe("[3, 7)");
  });

  test("a window that is not a positive integer is refused", () => {
    const { inner } = scripted(() => 0);
    expect(() => checkGlobalPolicy("p", inner, 0)).toThrow(
      new RangeError("windowPages must be a positive integer, got 0"),
    );
    expect(() => checkGlobalPolicy("p", inner, 2.5)).toThrow(
      "windowPages must be a positive integer, got 2.5",
    );
    expect(checkGlobalPolicy("p", inner, 1).windowPages).toBe(1);
  });

  test("stats: absent, thrown, not an object, a bad field: the ledger's figures", () => {
    const { inner } = scripted(() => 0);
    const ledger = { allocatedPages: 2, freePages: W - 2, allocations: 1, failures: 0 };
    const plain = checkGlobalPolicy("p", inner, W);
    plain.grant(0, 2, 1);
    expect(plain.stats()).toEqual(ledger);

    const cases: [() => unknown, string][] = [
      [
        () => {
          throw new Error("no stats today");
        },
        "[plugin p] stats: no stats today",
      ],
      [() => null, "[plugin p] stats: returned null, not a stats object"],
      [() => 7, "[plugin p] stats: returned 7, not a stats object"],
      [
        () => ({ allocatedPages: 1, freePages: 1, allocations: 1 }),
        "[plugin p] stats: failures is nothing, not a finite number",
      ],
      [
        () => ({ allocatedPages: 1, freePages: Number.POSITIVE_INFINITY }),
        "[plugin p] stats: freePages is Infinity, not a finite number",
      ],
      [
        () => ({ allocatedPages: 1, freePages: 1, allocations: "1", failures: 0 }),
        '[plugin p] stats: allocations is "1", not a finite number',
      ],
    ];
    for (const [stats, message] of cases) {
      const r = reporting();
      const c = checkGlobalPolicy("p", { ...inner, stats: stats as () => PolicyStats }, W, r);
      c.grant(0, 2, 1);
      expect(c.stats()).toEqual(ledger);
      expect(r.errors.map((e) => [e.message, e.hook])).toEqual([[message, "stats"]]);
      if (!message.includes("no stats today")) expect(r.errors[0]!.value).toEqual(stats());
      const loud = checkGlobalPolicy("p", { ...inner, stats: stats as () => PolicyStats }, W);
      expect(() => loud.stats()).toThrow(message);
    }
    const good = { allocatedPages: 9, freePages: 1, allocations: 3, failures: 4 };
    const r = reporting();
    const c = checkGlobalPolicy("p", { ...inner, stats: () => good }, W, r);
    expect(c.stats()).toBe(good);
    expect(r.errors).toEqual([]);
  });
});

describe("checked global policy: messages, counts and ledger", () => {
  test("bad requests are refused with their reason, counted, and never reach the policy", () => {
    const { inner, calls } = scripted(() => 0);
    const c = checkGlobalPolicy("p", inner, W);
    expect(c.grant(-1, 1, 1)).toEqual({ refused: "bad request: domain -1" });
    expect(c.grant(1.5, 1, 1)).toEqual({ refused: "bad request: domain 1.5" });
    expect(c.grant(MAX_LEDGER_DOMAIN + 1, 1, 1)).toEqual({ refused: "bad request: domain 65535" });
    expect(c.grant(0, 0, 1)).toEqual({
      refused: "bad request: npages 0 is not a positive integer",
    });
    expect(c.grant(0, 1, 3)).toEqual({ refused: "bad request: align 3 is not a power of two" });
    expect(c.grant(0, W + 1, 1)).toEqual({ refused: "33 pages do not fit in a window of 32" });
    expect(calls).toEqual([]);
    expect(c.stats()).toEqual({ allocatedPages: 0, freePages: W, allocations: 0, failures: 6 });
    expect(c.grant(MAX_LEDGER_DOMAIN, W, 1)).toBe(0);
    expect(calls).toEqual([`grant ${MAX_LEDGER_DOMAIN} ${W} 1`]);
    expect(c.ownerOf(W - 1)).toBe(MAX_LEDGER_DOMAIN);
    expect(c.livePages(MAX_LEDGER_DOMAIN)).toBe(W);
  });

  test("each bad answer is named with the call and the reason; nothing is marked", () => {
    const answers: [unknown, number, number, string][] = [
      [
        "3",
        1,
        1,
        'returned "3" for grant(domain 1, npages 1, align 1): not an integer page number',
      ],
      [
        2.5,
        1,
        1,
        "returned 2.5 for grant(domain 1, npages 1, align 1): not an integer page number",
      ],
      [
        -1,
        2,
        1,
        "returned -1 for grant(domain 1, npages 2, align 1): range [-1, 1) is outside the window [0, 32)",
      ],
      [
        31,
        2,
        1,
        "returned 31 for grant(domain 1, npages 2, align 1): range [31, 33) is outside the window [0, 32)",
      ],
      [6, 2, 4, "returned 6 for grant(domain 1, npages 2, align 4): not aligned to 4 pages"],
      [
        3,
        2,
        1,
        "returned 3 for grant(domain 1, npages 2, align 1): page 4 is already granted to domain 0",
      ],
    ];
    for (const [answer, n, a, message] of answers) {
      const r = reporting();
      let next: unknown = 4;
      const c = checkGlobalPolicy("p", scripted(() => next).inner, W, r);
      expect(c.grant(0, 1, 1)).toBe(4);
      next = answer;
      expect(c.grant(1, n, a)).toEqual({
        refused: `allocation policy error: [plugin p] grant: ${message}`,
      });
      expect(r.errors.map((e) => [e.plugin, e.hook, e.message, e.value])).toEqual([
        ["p", "grant", `[plugin p] grant: ${message}`, answer],
      ]);
      expect(c.livePages()).toBe(1);
      expect(c.livePages(1)).toBe(0);
      expect(c.stats()).toEqual({
        allocatedPages: 1,
        freePages: W - 1,
        allocations: 1,
        failures: 1,
      });
      // without onError the same answer throws
      next = 4;
      const loud = checkGlobalPolicy("p", scripted(() => next).inner, W);
      loud.grant(0, 1, 1);
      next = answer;
      expect(() => loud.grant(1, n, a)).toThrow(message);
    }
  });

  test("answers at the window's edges are taken", () => {
    const c = checkGlobalPolicy("p", scripted((_d, n) => W - n).inner, W);
    expect(c.grant(2, 4, 4)).toBe(28);
    expect([c.ownerOf(27), c.ownerOf(28), c.ownerOf(31), c.ownerOf(32)]).toEqual([-1, 2, 2, -1]);
    const z = checkGlobalPolicy("p", scripted(() => 0).inner, W);
    expect(z.grant(0, 1, 2 ** 30)).toBe(0);
  });

  test("a refusal passes through as given; a refusal without a string reason is a bug report", () => {
    const refusal = { refused: "full" };
    const c = checkGlobalPolicy("p", scripted(() => refusal).inner, W);
    expect(c.grant(0, 1, 1)).toBe(refusal);
    expect(c.stats().failures).toBe(1);
    const r = reporting();
    const bad = checkGlobalPolicy("p", scripted(() => ({ refused: 42 })).inner, W, r);
    expect(bad.grant(0, 1, 1)).toEqual({
      refused: "allocation policy error: [plugin p] grant: refusal reason 42 is not a string",
    });
    expect(r.errors[0].value).toEqual({ refused: 42 });
    expect(bad.stats().failures).toBe(1);
    const thrown = checkGlobalPolicy(
      "p",
      scripted(() => {
        throw new Error("boom");
      }).inner,
      W,
      r,
    );
    expect(thrown.grant(0, 1, 1)).toEqual({
      refused: "allocation policy error: [plugin p] grant: boom",
    });
    expect(thrown.stats()).toEqual({
      allocatedPages: 0,
      freePages: W,
      allocations: 0,
      failures: 1,
    });
  });

  test("revoke, reclaim and restore: misuse named exactly; the policy hears only good calls", () => {
    let next = 0;
    const { inner, calls } = scripted(() => next);
    const c = checkGlobalPolicy("p", inner, W);
    expect(c.grant(1, 4, 1)).toBe(0);
    next = 4;
    expect(c.grant(2, 2, 1)).toBe(4);
    const mis = (call: string, why: string) => `checked policy "p": ${call}: ${why}`;
    expect(() => c.revoke(1, 2, 4)).toThrow(
      new RangeError(mis("revoke(domain 1, [2, 6))", "page 4 is granted to domain 2")),
    );
    expect(() => c.revoke(1, 5, 2)).toThrow(
      mis("revoke(domain 1, [5, 7))", "page 5 is granted to domain 2"),
    );
    expect(() => c.revoke(2, 6, 1)).toThrow(
      mis("revoke(domain 2, [6, 7))", "page 6 is not granted"),
    );
    expect(() => c.revoke(1, -1, 1)).toThrow(
      mis("revoke(domain 1, [-1, 0))", "range [-1, 0) is not inside the window of 32 pages"),
    );
    expect(() => c.revoke(1, 0.5, 1)).toThrow("is not inside the window");
    expect(() => c.revoke(1, 0, 0)).toThrow("is not inside the window");
    expect(() => c.revoke(1, 30, 3)).toThrow("is not inside the window");
    expect(() => c.reclaim(1)).toThrow(
      mis("reclaim(domain 1)", "4 pages are still granted; revoke them first"),
    );
    expect(() => c.restore(3, 3, 2)).toThrow(
      mis("restore(domain 3, [3, 5))", "page 3 is already granted to domain 1"),
    );
    expect(() => c.restore(-1, 10, 1)).toThrow(mis("restore(domain -1, [10, 11))", "bad domain"));
    expect(() => c.restore(0.5, 10, 1)).toThrow("bad domain");
    expect(() => c.restore(MAX_LEDGER_DOMAIN + 1, 10, 1)).toThrow("bad domain");
    expect(() => c.restore(3, 31, 2)).toThrow("not inside the window");
    expect(calls).toEqual(["grant 1 4 1", "grant 2 2 1"]);

    c.revoke(1, 1, 2);
    expect([c.ownerOf(0), c.ownerOf(1), c.ownerOf(2), c.ownerOf(3)]).toEqual([1, -1, -1, 1]);
    expect([c.livePages(), c.livePages(1), c.livePages(2)]).toEqual([4, 2, 2]);
    c.revoke(1, 0, 1);
    c.revoke(1, 3, 1);
    expect(c.livePages(1)).toBe(0);
    c.reclaim(1);
    c.restore(0, 29, 1);
    expect(c.ownerOf(29)).toBe(0);
    c.revoke(0, 29, 1);
    c.restore(MAX_LEDGER_DOMAIN, 30, 2);
    expect([c.ownerOf(29), c.ownerOf(30), c.ownerOf(31)]).toEqual([
      -1,
      MAX_LEDGER_DOMAIN,
      MAX_LEDGER_DOMAIN,
    ]);
    expect([c.livePages(), c.livePages(MAX_LEDGER_DOMAIN)]).toEqual([4, 2]);
    expect(calls.slice(2)).toEqual([
      "revoke 1 1 2",
      "revoke 1 0 1",
      "revoke 1 3 1",
      "reclaim 1",
      "restore 0 29 1",
      "revoke 0 29 1",
      `restore ${MAX_LEDGER_DOMAIN} 30 2`,
    ]);
    expect(c.stats()).toEqual({ allocatedPages: 4, freePages: W - 4, allocations: 2, failures: 0 });
  });

  test("what revoke, reclaim and restore throw is reported with the hook; the ledger follows the core", () => {
    const r = reporting();
    const fail = (hook: string) => () => {
      throw new Error(`${hook} failed`);
    };
    const inner: GlobalPolicy = {
      grant: () => 0,
      revoke: fail("revoke"),
      reclaim: fail("reclaim"),
      restore: fail("restore"),
    };
    const c = checkGlobalPolicy("p", inner, W, r);
    c.grant(5, 2, 1);
    c.revoke(5, 0, 2);
    c.reclaim(5);
    c.restore(6, 8, 1);
    expect(r.errors.map((e) => e.message)).toEqual([
      "[plugin p] revoke: revoke failed",
      "[plugin p] reclaim: reclaim failed",
      "[plugin p] restore: restore failed",
    ]);
    expect([c.livePages(5), c.livePages(6), c.ownerOf(8), c.ownerOf(0)]).toEqual([0, 1, 6, -1]);
  });
});

/** A local policy that answers whatever `next` says, recording each call with its arity. */
function scriptedLocal(next: () => unknown, acquire?: "lease" | "per-map") {
  const calls: string[] = [];
  const inner: LocalPolicy = {
    addRange: (b, n) => void calls.push(`add ${b} ${n}`),
    removeRange: (b, n) => void calls.push(`remove ${b} ${n}`),
    alloc(...args: number[]) {
      calls.push(`alloc ${args.join(" ")}`);
      return next() as number;
    },
    free: (p, n, cpu) => void calls.push(`free ${p} ${n} ${cpu}`),
  };
  return { inner: acquire === undefined ? inner : { ...inner, acquire }, calls };
}

describe("checked local policy: messages, counts and ledger", () => {
  const mis = (call: string, why: string) => `checked policy "q": ${call}: ${why}`;

  test("ranges: added, removed, refused with the page and its state", () => {
    const { inner, calls } = scriptedLocal(() => 8);
    const c = checkLocalPolicy("q", inner, W);
    c.addRange(8, 8);
    expect(() => c.addRange(4, 5)).toThrow(
      new RangeError(mis("addRange([4, 9))", "page 8 is already held (free)")),
    );
    expect(() => c.addRange(30, 3)).toThrow(
      mis("addRange([30, 33))", "range [30, 33) is not inside the window of 32 pages"),
    );
    c.addRange(28, 4);
    expect([c.stateOf(7), c.stateOf(8), c.stateOf(15), c.stateOf(16), c.stateOf(31)]).toEqual([
      "none",
      "free",
      "free",
      "none",
      "free",
    ]);
    expect(c.heldPages).toBe(12);
    expect(c.alloc(2, 1, 0)).toBe(8);
    expect(() => c.removeRange(8, 8)).toThrow(
      mis("removeRange([8, 16))", "page 8 is not held, or still allocated (allocated)"),
    );
    expect(() => c.removeRange(26, 4)).toThrow(
      mis("removeRange([26, 30))", "page 26 is not held, or still allocated (none)"),
    );
    c.removeRange(28, 4);
    expect([c.heldPages, c.allocatedPages, c.stateOf(28)]).toEqual([8, 2, "none"]);
    expect(() => c.free(10, 1, 0)).toThrow(
      mis("free([10, 11))", "page 10 is not allocated (free)"),
    );
    expect(() => c.free(-1, 1, 0)).toThrow("is not inside the window");
    c.free(8, 2, 3);
    expect([c.allocatedPages, c.stateOf(8)]).toEqual([0, "free"]);
    expect(calls).toEqual(["add 8 8", "add 28 4", "alloc 2 1 0", "remove 28 4", "free 8 2 3"]);
    expect(c.stats()).toEqual({ allocatedPages: 0, freePages: 8, allocations: 1, failures: 0 });
  });

  test("alloc misuse is named; the limit is passed only when given", () => {
    const { inner, calls } = scriptedLocal(() => 0);
    const c = checkLocalPolicy("q", inner, W);
    c.addRange(0, W);
    expect(() => c.alloc(0, 1, 0)).toThrow(
      new RangeError(mis("alloc(0, 1)", "npages must be a positive integer")),
    );
    expect(() => c.alloc(1, 6, 0)).toThrow(mis("alloc(1, 6)", "align must be a power of two"));
    expect(() => c.alloc(1, 2 ** 31, 0)).toThrow("align must be a power of two");
    expect(() => c.alloc(1, 1, 0, 0)).toThrow(
      mis("alloc(1, 1, limit 0)", "limit must be a page in (0, window]"),
    );
    expect(() => c.alloc(1, 1, 0, W + 1)).toThrow("limit must be a page in (0, window]");
    expect(() => c.alloc(1, 1, 0, 1.5)).toThrow("limit must be a page in (0, window]");
    expect(calls).toEqual(["add 0 32"]);
    expect(c.alloc(1, 2 ** 30, 5)).toBe(0);
    expect(() => c.alloc(2, 1, 6, W)).toThrow("page 0 is already allocated");
    expect(calls.slice(1)).toEqual([`alloc 1 ${2 ** 30} 5`, `alloc 2 1 6 ${W}`]);
  });

  test("each bad answer is named with the call and the reason, and counted as a failure", () => {
    const answers: [unknown, number, number, number | undefined, string][] = [
      [
        "5",
        2,
        1,
        10,
        'returned "5" for alloc(npages 2, align 1, cpu 3, limit 10): not an integer page number (or -1)',
      ],
      [
        Number.NaN,
        1,
        1,
        undefined,
        "returned NaN for alloc(npages 1, align 1, cpu 3): not an integer page number (or -1)",
      ],
      [
        9,
        2,
        1,
        10,
        "returned 9 for alloc(npages 2, align 1, cpu 3, limit 10): range [9, 11) reaches past the limit 10",
      ],
      [
        -2,
        1,
        1,
        undefined,
        "returned -2 for alloc(npages 1, align 1, cpu 3): range [-2, -1) is outside the window [0, 32)",
      ],
      [
        31,
        2,
        1,
        undefined,
        "returned 31 for alloc(npages 2, align 1, cpu 3): range [31, 33) is outside the window [0, 32)",
      ],
      [
        2,
        2,
        4,
        undefined,
        "returned 2 for alloc(npages 2, align 4, cpu 3): not aligned to 4 pages",
      ],
      [
        14,
        4,
        2,
        undefined,
        "returned 14 for alloc(npages 4, align 2, cpu 3): page 16 is not in a range the guest holds",
      ],
      [
        0,
        2,
        1,
        undefined,
        "returned 0 for alloc(npages 2, align 1, cpu 3): page 1 is already allocated",
      ],
      [
        6,
        4,
        2,
        undefined,
        "returned 6 for alloc(npages 4, align 2, cpu 3): page 6 is not in a range the guest holds",
      ],
    ];
    for (const [answer, n, a, limit, message] of answers) {
      let next: unknown = 1;
      const r = reporting();
      const c = checkLocalPolicy("q", scriptedLocal(() => next).inner, W, r);
      c.addRange(0, 4);
      c.addRange(8, 8);
      expect(c.alloc(1, 1, 0)).toBe(1);
      next = answer;
      expect(c.alloc(n, a, 3, limit)).toBe(-1);
      expect(r.errors.map((e) => [e.plugin, e.hook, e.message, e.value])).toEqual([
        ["q", "alloc", `[plugin q] alloc: ${message}`, answer],
      ]);
      expect(c.stats()).toEqual({ allocatedPages: 1, freePages: 11, allocations: 1, failures: 1 });
      expect([c.stateOf(0), c.stateOf(1), c.stateOf(8)]).toEqual(["free", "allocated", "free"]);
      next = 1;
      const loud = checkLocalPolicy("q", scriptedLocal(() => next).inner, W);
      loud.addRange(0, 4);
      loud.addRange(8, 8);
      loud.alloc(1, 1, 0);
      next = answer;
      expect(() => loud.alloc(n, a, 3, limit)).toThrow(message);
    }
  });

  test("the first page of the window is named when it is the one at fault", () => {
    const mis0 = (call: string, why: string) => `checked policy "q": ${call}: ${why}`;
    const r = reporting();
    const c = checkLocalPolicy("q", scriptedLocal(() => 0).inner, W, r);
    expect(() => c.free(0, 1, 0)).toThrow(mis0("free([0, 1))", "page 0 is not allocated (none)"));
    expect(() => c.removeRange(0, 2)).toThrow("page 0 is not held, or still allocated (none)");
    c.addRange(4, 4);
    expect(c.alloc(1, 1, 0)).toBe(-1);
    expect(r.errors.map((e) => e.message)).toEqual([
      "[plugin q] alloc: returned 0 for alloc(npages 1, align 1, cpu 0): page 0 is not in a range the guest holds",
    ]);
    c.addRange(0, 2);
    expect(() => c.addRange(0, 1)).toThrow("page 0 is already held (free)");
  });

  test("answers up to the limit and the window's end are taken; -1 is a failure, not a report", () => {
    let next = 8;
    const r = reporting();
    const { inner, calls } = scriptedLocal(() => next);
    const c = checkLocalPolicy("q", inner, W, r);
    c.addRange(8, 24);
    expect(c.alloc(2, 2, 1, 10)).toBe(8);
    next = 30;
    expect(c.alloc(2, 2, 1)).toBe(30);
    next = -1;
    expect(c.alloc(1, 1, 1)).toBe(-1);
    next = 12;
    expect(c.alloc(1, 1, 1, 12)).toBe(-1);
    expect(r.errors.map((e) => e.message)).toEqual([
      "[plugin q] alloc: returned 12 for alloc(npages 1, align 1, cpu 1, limit 12): range [12, 13) reaches past the limit 12",
    ]);
    expect(calls.slice(1)).toEqual([
      "alloc 2 2 1 10",
      "alloc 2 2 1",
      "alloc 1 1 1",
      "alloc 1 1 1 12",
    ]);
    expect(c.stats()).toEqual({ allocatedPages: 4, freePages: 20, allocations: 2, failures: 2 });
  });

  test("what the policy throws is reported with the hook; the ledger follows the core", () => {
    const r = reporting();
    const fail = (hook: string) => () => {
      throw new Error(`${hook} failed`);
    };
    const inner: LocalPolicy = {
      addRange: fail("addRange"),
      removeRange: fail("removeRange"),
      alloc: fail("alloc") as () => number,
      free: fail("free"),
    };
    const c = checkLocalPolicy("q", inner, W, r);
    c.addRange(0, 4);
    expect(c.alloc(1, 1, 0)).toBe(-1);
    c.removeRange(0, 4);
    expect(r.errors.map((e) => e.message)).toEqual([
      "[plugin q] addRange: addRange failed",
      "[plugin q] alloc: alloc failed",
      "[plugin q] removeRange: removeRange failed",
    ]);
    expect([c.heldPages, c.stateOf(0)]).toEqual([0, "none"]);
    expect(c.stats()).toEqual({ allocatedPages: 0, freePages: 0, allocations: 0, failures: 1 });
    const ok = checkLocalPolicy("q", { ...scriptedLocal(() => 0).inner, free: fail("free") }, W, r);
    ok.addRange(0, 1);
    ok.alloc(1, 1, 0);
    ok.free(0, 1, 0);
    expect(r.errors.at(-1)?.message).toBe("[plugin q] free: free failed");
    expect(ok.stateOf(0)).toBe("free");
  });

  test("the acquire mode is the policy's; states outside the window read as none", () => {
    expect(checkLocalPolicy("q", scriptedLocal(() => 0, "lease").inner, W).acquire).toBe("lease");
    const c = checkLocalPolicy("q", scriptedLocal(() => 0).inner, W);
    expect(c.acquire).toBeUndefined();
    expect("acquire" in c).toBe(false);
    expect([c.stateOf(-1), c.stateOf(W), c.stateOf(5000)]).toEqual(["none", "none", "none"]);
    expect(c.stats()).toEqual({ allocatedPages: 0, freePages: 0, allocations: 0, failures: 0 });
  });
});
