import { PAGE_SIZE } from "../machine/memory.ts";
import { FN } from "./functions.ts";
import type { Hypervisor } from "./hypervisor.ts";
import {
  LDC_COPY_IN,
  LDC_COPY_OUT,
  LDC_MEM_READ,
  LDC_MEM_WRITE,
  type LdcMapTable,
} from "./ldc-map.ts";
import { HV } from "./status.ts";

/** LDC shared memory: a domain exports part of its memory to a channel's peer, which copies in or out. */

/**
 * `domain` exports [ra, ra + len) of its memory to the peer of `channelId` (its map table lives
 * in its own memory, so this is no hypercall). Returns a cookie, or -1 (not its memory, not an
 * endpoint, table full).
 */
export function ldcBind(
  hv: Hypervisor,
  domain: number,
  channelId: number,
  ra: number,
  len: number,
  perms: number,
): number {
  const table = exportTable(hv, domain, channelId);
  if (table === undefined || !hv.domains[domain]!.mem.contains(ra, len)) return -1;
  return table.bind(ra, len, perms);
}

export function ldcUnbind(
  hv: Hypervisor,
  domain: number,
  channelId: number,
  cookie: number,
): boolean {
  return exportTable(hv, domain, channelId)?.unbind(cookie) ?? false;
}

/**
 * LDC_COPY: copies `len` bytes between the caller's memory at `localRa` and what the channel's
 * peer exported under `cookie` (COPY_IN: from the peer, needs READ; COPY_OUT: to the peer, needs
 * WRITE). ret1 = bytes copied. Contents move page by page.
 */
export function ldcCopy(
  hv: Hypervisor,
  caller: number,
  channelId: number,
  dir: number,
  cookie: number,
  localRa: number,
  len: number,
): number {
  const ch = hv.channel(channelId);
  let status: number = HV.EOK;
  let copied = 0;
  if (!hv.domains[caller]?.alive) status = HV.ENOACCESS;
  else if (ch === undefined || !ch.ends.includes(caller) || !ch.isUp) status = HV.ECHANNEL;
  else if (dir !== LDC_COPY_IN && dir !== LDC_COPY_OUT) status = HV.EINVAL;
  else {
    const peer = ch.peerOf(caller);
    const exp = exportTable(hv, peer, channelId)?.lookup(cookie);
    const need = dir === LDC_COPY_IN ? LDC_MEM_READ : LDC_MEM_WRITE;
    if (exp === undefined || !(len > 0) || len > exp.len) status = HV.EINVAL;
    else if ((exp.perms & need) === 0) status = HV.ENOACCESS;
    else if (!hv.domains[caller]!.mem.contains(localRa, len)) status = HV.ENORADDR;
    else {
      const remote = hv.domains[peer]!.mem;
      const local = hv.domains[caller]!.mem;
      const content = hv.memory.content;
      const pages = Math.floor(((exp.ra % PAGE_SIZE) + len - 1) / PAGE_SIZE) + 1;
      for (let k = 0; k < pages; k++) {
        const r = remote.paPageOf(exp.ra + k * PAGE_SIZE);
        const l = local.paPageOf(localRa + k * PAGE_SIZE);
        if (r < 0 || l < 0) continue;
        if (dir === LDC_COPY_IN) content[l] = content[r]!;
        else content[r] = content[l]!;
      }
      copied = len;
    }
  }
  return hv.finish(
    caller,
    FN.LDC_COPY,
    status,
    copied,
    Math.ceil(copied / hv.cost.memcpyBytesPerNs),
    0,
    0,
  );
}

function exportTable(hv: Hypervisor, domain: number, channelId: number): LdcMapTable | undefined {
  const ch = hv.channel(channelId);
  if (ch === undefined) return undefined;
  const side = ch.ends.indexOf(domain);
  return side < 0 ? undefined : hv.mapTables.get(channelId)![side];
}
