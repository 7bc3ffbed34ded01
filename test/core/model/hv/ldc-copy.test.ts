import { expect, test } from "bun:test";
import { RA_BASE } from "../../../../core/model/hv/hypervisor.ts";
import { LdcChannel } from "../../../../core/model/hv/ldc.ts";
import { LDC_COPY_IN, LDC_COPY_OUT, LDC_MEM_READ } from "../../../../core/model/hv/ldc-map.ts";
import { HV } from "../../../../core/model/hv/status.ts";
import { Simulator } from "../../../../core/model/sim/kernel.ts";
import { Rng } from "../../../../core/model/sim/rng.ts";
import { smallHv } from "../../../helpers/small-machine.ts";

test("LDC_COPY reaches only what the peer exported, within its length and permissions", () => {
  const hv = smallHv();
  hv.addChannel(
    new LdcChannel(
      new Simulator(),
      7,
      0,
      1,
      { queueEntries: 8, latencyNs: 1, lossRate: 0 },
      new Rng(1),
    ),
  );
  const g = hv.domains[1]!.mem;
  const c = hv.domains[0]!.mem;
  const src = RA_BASE + 10 * 8192;
  hv.memory.content[g.paPageOf(src)] = 111;
  hv.memory.content[g.paPageOf(src + 8192)] = 112;
  const ro = hv.ldcBind(1, 7, src, 2 * 8192, LDC_MEM_READ);
  expect(ro).toBeGreaterThanOrEqual(0);
  expect(hv.ldcBind(1, 7, 0x10, 8192, 3)).toBe(-1); // not the guest's memory
  expect(hv.ldcBind(2, 7, src, 8192, 3)).toBe(-1); // not an endpoint
  const dst = RA_BASE + 40 * 8192;
  expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 2 * 8192)).toBe(HV.EOK);
  expect(hv.ret1).toBe(2 * 8192);
  expect([hv.memory.content[c.paPageOf(dst)], hv.memory.content[c.paPageOf(dst + 8192)]]).toEqual([
    111, 112,
  ]);
  expect(hv.ldcCopy(0, 7, LDC_COPY_OUT, ro, dst, 8192)).toBe(HV.ENOACCESS); // read-only export
  expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 3 * 8192)).toBe(HV.EINVAL); // longer than exported
  expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro + 8192, dst, 10)).toBe(HV.EINVAL); // no such cookie
  expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, 0x10, 10)).toBe(HV.ENORADDR);
  expect(hv.ldcCopy(2, 7, LDC_COPY_IN, ro, dst, 10)).toBe(HV.ECHANNEL); // not on this channel
  expect(hv.ldcUnbind(1, 7, ro)).toBe(true);
  expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 10)).toBe(HV.EINVAL); // revoked
  hv.killDomain(1, "test");
  expect(hv.ldcCopy(0, 7, LDC_COPY_IN, ro, dst, 10)).toBe(HV.ECHANNEL);
});
