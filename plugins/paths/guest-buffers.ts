import { type GuestMemory, type Hypervisor, PAGE_SIZE } from "../../core/index.ts";

/**
 * A driver's pool of data buffers in guest memory, each big enough for the device's largest
 * request, so a steady workload allocates nothing per I/O.
 */
export class BufferPool {
  private readonly free: number[] = [];
  readonly pagesEach: number;

  constructor(
    private readonly memory: GuestMemory,
    bytesEach: number,
  ) {
    this.pagesEach = Math.max(1, Math.ceil(bytesEach / PAGE_SIZE));
  }

  /** RA of a buffer, or -1 when guest memory is exhausted. */
  take(): number {
    return this.free.pop() ?? this.memory.alloc(this.pagesEach);
  }

  give(ra: number): void {
    this.free.push(ra);
  }
}

/** The CPU writes the data to send: page k of the buffer gets content `tag + k`. */
export function fillData(
  hv: Hypervisor,
  domain: number,
  ra: number,
  len: number,
  tag: number,
): void {
  const mem = hv.domains[domain]!.mem;
  const content = hv.memory.content;
  const first = Math.floor(ra / PAGE_SIZE);
  const last = Math.floor((ra + len - 1) / PAGE_SIZE);
  for (let p = first; p <= last; p++)
    content[mem.paPageOf(p * PAGE_SIZE)] = (tag + p - first) >>> 0;
}

/** True if page k of the buffer holds `tag + k` (the data a device delivered). */
export function holdsData(
  hv: Hypervisor,
  domain: number,
  ra: number,
  len: number,
  tag: number,
): boolean {
  const mem = hv.domains[domain]!.mem;
  const content = hv.memory.content;
  const first = Math.floor(ra / PAGE_SIZE);
  const last = Math.floor((ra + len - 1) / PAGE_SIZE);
  for (let p = first; p <= last; p++)
    if (content[mem.paPageOf(p * PAGE_SIZE)] !== (tag + p - first) >>> 0) return false;
  return true;
}

/** Content tags unique per endpoint and I/O, leaving the low 8 bits for the page number. */
export class TagSource {
  private n = 0;
  constructor(private readonly seed: number) {}
  next(): number {
    this.n = (this.n + 1) & 0xffff;
    return (((this.seed & 0xff) << 24) | (this.n << 8)) >>> 0;
  }
}
