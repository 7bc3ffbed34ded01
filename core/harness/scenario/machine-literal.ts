/**
 * The machine most scenarios describe, written once: root complex 0x200, the control domain
 * `primary`, and guests `ldg1`, `ldg2`, ... (or named), each with the same devices — a NIC
 * `nic<k>` at requester id 0x<k>00 and an NVMe disk `disk<k>` at 0x<k>08 for guest k. Scenario
 * files cannot share a helper among themselves (every file in scenarios/ is loaded as one),
 * so they take this from the public API.
 *
 *   machine: guestMachine({ control: { strands: 8, memoryMiB: 2048 },
 *     guests: [{ strands: 8, memoryMiB: 1024 }, { strands: 8, memoryMiB: 1024 }],
 *     devices: ["nic", "nvme"] }),
 */

const DEVHANDLE = 0x200;

/** A guest of `guestMachine`: its name (default `ldg<k>`, k from 1), vCPUs and memory. */
export interface GuestShape {
  name?: string;
  strands: number;
  memoryMiB: number;
}

export interface GuestMachineOptions {
  /** The control domain `primary`. */
  control: { strands: number; memoryMiB: number };
  guests: readonly GuestShape[];
  /** What each guest gets, in this order. */
  devices: readonly ("nic" | "nvme")[];
  /** Fields of the root complex besides its devhandle (virtualDma, isolation, iotlb). */
  rootComplex?: Record<string, unknown>;
}

const DEVICE = { nic: { name: "nic", rid: 0 }, nvme: { name: "disk", rid: 8 } } as const;

/** The machine literal (validated when the scenario is parsed, as any other). */
export function guestMachine(o: GuestMachineOptions) {
  const guests = o.guests.map((g, i) => ({ ...g, name: g.name ?? `ldg${i + 1}` }));
  return {
    rootComplexes: [{ devhandle: DEVHANDLE, ...o.rootComplex }],
    domains: [
      { name: "primary", role: "control", ...o.control },
      ...guests.map((g) => ({ name: g.name, strands: g.strands, memoryMiB: g.memoryMiB })),
    ],
    devices: guests.flatMap((g, i) =>
      o.devices.map((kind) => ({
        name: `${DEVICE[kind].name}${i + 1}`,
        kind,
        devhandle: DEVHANDLE,
        requesterId: ((i + 1) << 8) | DEVICE[kind].rid,
        domain: g.name,
      })),
    ),
  };
}
