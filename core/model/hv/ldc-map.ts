import { PAGE_SIZE } from "../machine/memory.ts";

/** LDC_COPY directions and map-table permissions, as in Linux hypervisor.h. */
export const LDC_COPY_IN = 0;
export const LDC_COPY_OUT = 1;
export const LDC_MEM_READ = 1;
export const LDC_MEM_WRITE = 2;
/** Entries in one channel's map table (Linux LDC_IOTABLE_SIZE). */
export const LDC_IOTABLE_SIZE = 8192;

interface Export {
  ra: number;
  len: number;
  perms: number;
}

/**
 * What one domain exports to the peer of one channel: its shared-memory map table. A cookie
 * names an entry (index << 13, plus the byte offset of `ra` in its page); the peer reaches the
 * memory only through LDC_COPY with that cookie, within the exported length and permissions.
 */
export class LdcMapTable {
  private readonly entries: (Export | undefined)[] = [];
  private readonly freeSlots: number[] = [];

  /** A cookie for [ra, ra + len) with `perms`, or -1 when the table is full. */
  bind(ra: number, len: number, perms: number): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.entries.length >= LDC_IOTABLE_SIZE) return -1;
      slot = this.entries.length;
      this.entries.push(undefined);
    }
    this.entries[slot] = { ra, len, perms };
    return slot * PAGE_SIZE + (ra % PAGE_SIZE);
  }

  unbind(cookie: number): boolean {
    const slot = Math.floor(cookie / PAGE_SIZE);
    if (this.entries[slot] === undefined) return false;
    this.entries[slot] = undefined;
    this.freeSlots.push(slot);
    return true;
  }

  lookup(cookie: number): Export | undefined {
    if (!(cookie >= 0)) return undefined;
    const e = this.entries[Math.floor(cookie / PAGE_SIZE)];
    return e !== undefined && cookie % PAGE_SIZE === e.ra % PAGE_SIZE ? e : undefined;
  }

  get size(): number {
    return this.entries.length - this.freeSlots.length;
  }
}
