import { type Static, Type } from "@sinclair/typebox";

/**
 * The machine description (MD): what the firmware tells each domain at boot. Scenarios write it
 * literally; it is validated before anything is built.
 */

const Name = Type.String({
  pattern: "^[a-z][a-z0-9-]{0,31}$",
  description: "lower-case name: a letter, then letters, digits or '-', at most 32 characters",
});

export const VirtualDmaSchema = Type.Object(
  {
    base: Type.Integer({
      minimum: 0,
      maximum: 0xffffe000,
      default: 0x8000_0000,
      description: "first DVMA address, 8 KiB aligned (the root complex's virtual-dma property)",
    }),
    size: Type.Integer({
      minimum: 0x2000,
      maximum: 0x1_0000_0000,
      default: 0x8000_0000,
      description: "window size in bytes, 8 KiB aligned; base + size must stay below 4 GiB",
    }),
  },
  { additionalProperties: false, default: {} },
);

export const IotlbSchema = Type.Object(
  {
    sets: Type.Integer({
      minimum: 1,
      maximum: 65536,
      default: 64,
      description:
        "IOTLB sets, a power of two; the set index XOR-folds the DVMA page index. Default 64 (x 8 ways = 512 entries): assumed, no published size for the sun4v root complex's IOTLB",
    }),
    ways: Type.Integer({
      minimum: 1,
      maximum: 64,
      default: 8,
      description: "entries per IOTLB set (LRU inside a set). Default 8: assumed",
    }),
  },
  { additionalProperties: false, default: {} },
);

export const RootComplexSchema = Type.Object(
  {
    devhandle: Type.Integer({
      minimum: 0,
      maximum: 0x0fffffff,
      description: "PCIe root complex handle",
    }),
    virtualDma: VirtualDmaSchema,
    isolation: Type.Union([Type.Literal("shared"), Type.Literal("per-device")], {
      default: "shared",
      description:
        "shared: one IOTSB, any device reaches any valid TTE (the method as published); per-device: a device reaches only its owner's DVMA",
    }),
    iotlb: IotlbSchema,
  },
  { additionalProperties: false },
);

export const DomainSchema = Type.Object(
  {
    name: Name,
    role: Type.Union([Type.Literal("control"), Type.Literal("guest")], { default: "guest" }),
    strands: Type.Integer({ minimum: 1, maximum: 256, default: 4, description: "virtual CPUs" }),
    memoryMiB: Type.Integer({
      minimum: 8,
      maximum: 1 << 20,
      default: 1024,
      description: "multiple of 8",
    }),
  },
  { additionalProperties: false },
);

export const DeviceSchema = Type.Object(
  {
    name: Name,
    kind: Type.String({ default: "dma-engine", description: "device plugin that models it" }),
    devhandle: Type.Integer({
      minimum: 0,
      maximum: 0x0fffffff,
      description: "root complex it sits under",
    }),
    requesterId: Type.Integer({
      minimum: 0,
      maximum: 0xffff,
      description: "PCIe requester ID: bus << 8 | device << 3 | function",
    }),
    domain: Name,
  },
  { additionalProperties: false },
);

/** Many similar guests at once (scale studies): expanded into `domains` and `devices` by parseMachine. */
export const GuestPoolSchema = Type.Object(
  {
    count: Type.Integer({ minimum: 0, maximum: 127 }),
    namePrefix: Type.String({ pattern: "^[a-z][a-z0-9-]{0,20}$", default: "vm" }),
    strands: Type.Integer({ minimum: 1, maximum: 256, default: 4 }),
    memoryMiB: Type.Integer({
      minimum: 8,
      maximum: 1 << 20,
      default: 256,
      description: "multiple of 8",
    }),
    /** Each guest gets one of each, requester ID (guest index + 1) << 8 | position << 3. */
    devices: Type.Array(
      Type.Object(
        {
          kind: Type.String({ default: "nic" }),
          devhandle: Type.Integer({ minimum: 0, maximum: 0x0fffffff }),
        },
        { additionalProperties: false },
      ),
      { default: [] },
    ),
  },
  { additionalProperties: false },
);

export const MachineSchema = Type.Object(
  {
    name: Type.String({ default: "machine" }),
    rootComplexes: Type.Array(RootComplexSchema, { minItems: 1, maxItems: 16 }),
    domains: Type.Array(DomainSchema, {
      minItems: 1,
      maxItems: 128,
      description: "one control domain and up to 127 guests (the logical-domain limit is 128)",
    }),
    devices: Type.Array(DeviceSchema, { default: [] }),
    guestPool: Type.Optional(GuestPoolSchema),
    /** Hypervisor-side cap on TTEs written per map/demap call; callers loop (sun4v allows partial completion). */
    maxTtesPerCall: Type.Integer({ minimum: 1, maximum: 1 << 20, default: 1024 }),
  },
  { additionalProperties: false },
);

export type MachineDescription = Static<typeof MachineSchema>;
export type RootComplexDescription = Static<typeof RootComplexSchema>;
export type DomainDescription = Static<typeof DomainSchema>;
export type DeviceDescription = Static<typeof DeviceSchema>;

/** The description with its guest pool written out as ordinary domains and devices. */
export function expandGuestPool(md: MachineDescription): MachineDescription {
  const pool = md.guestPool;
  if (pool === undefined) return md;
  const domains = [...md.domains];
  const devices = [...md.devices];
  for (let i = 0; i < pool.count; i++) {
    const name = `${pool.namePrefix}${i + 1}`;
    domains.push({ name, role: "guest", strands: pool.strands, memoryMiB: pool.memoryMiB });
    pool.devices.forEach((d, j) => {
      devices.push({
        name: `${d.kind}-${name}`,
        kind: d.kind,
        devhandle: d.devhandle,
        requesterId: ((i + 1) << 8) | (j << 3),
        domain: name,
      });
    });
  }
  const { guestPool: _expanded, ...rest } = md;
  return { ...rest, domains, devices };
}

/** A check the schema cannot express: where it is and what is wrong. */
export interface DescriptionProblem {
  path: string;
  message: string;
  value?: unknown;
}

/** Cross-field rules of a machine description; an empty list means it is sound. */
export function machineProblems(md: MachineDescription): DescriptionProblem[] {
  const out: DescriptionProblem[] = [];
  if (md.domains.length > 128) {
    out.push({
      path: "/domains",
      message: `at most 128 domains (logical-domain limit); the machine has ${md.domains.length}`,
    });
  }
  const controls = md.domains.filter((d) => d.role === "control");
  if (controls.length !== 1) {
    out.push({
      path: "/domains",
      message: `exactly one domain must have role "control" (found ${controls.length})`,
    });
  }
  const names = new Set<string>();
  md.domains.forEach((d, i) => {
    if (names.has(d.name))
      out.push({ path: `/domains/${i}/name`, message: "duplicate domain name", value: d.name });
    names.add(d.name);
    if (d.memoryMiB % 8 !== 0) {
      out.push({
        path: `/domains/${i}/memoryMiB`,
        message: "must be a multiple of 8 (whole 8 KiB pages in 8 MiB steps)",
        value: d.memoryMiB,
      });
    }
  });
  const handles = new Set<number>();
  md.rootComplexes.forEach((rc, i) => {
    const at = `/rootComplexes/${i}`;
    if (handles.has(rc.devhandle))
      out.push({ path: `${at}/devhandle`, message: "duplicate devhandle", value: rc.devhandle });
    handles.add(rc.devhandle);
    const { base, size } = rc.virtualDma;
    // Linux refuses a window that is not 8 KiB aligned ("Strange virtual-dma").
    if (base % 0x2000 !== 0)
      out.push({ path: `${at}/virtualDma/base`, message: "must be 8 KiB aligned", value: base });
    if (size % 0x2000 !== 0)
      out.push({ path: `${at}/virtualDma/size`, message: "must be 8 KiB aligned", value: size });
    if (base + size > 0x1_0000_0000) {
      out.push({
        path: `${at}/virtualDma/size`,
        message: "base + size must not pass 4 GiB (legacy 32-bit DVMA)",
        value: size,
      });
    }
    if ((rc.iotlb.sets & (rc.iotlb.sets - 1)) !== 0) {
      out.push({
        path: `${at}/iotlb/sets`,
        message: "must be a power of two",
        value: rc.iotlb.sets,
      });
    }
  });
  const rids = new Set<string>();
  const devNames = new Set<string>();
  md.devices.forEach((dev, i) => {
    const at = `/devices/${i}`;
    if (devNames.has(dev.name))
      out.push({ path: `${at}/name`, message: "duplicate device name", value: dev.name });
    devNames.add(dev.name);
    if (!handles.has(dev.devhandle)) {
      out.push({
        path: `${at}/devhandle`,
        message: `no root complex has this devhandle (known: ${[...handles].join(", ")})`,
        value: dev.devhandle,
      });
    }
    if (!names.has(dev.domain)) {
      out.push({
        path: `${at}/domain`,
        message: `no such domain (known: ${[...names].join(", ")})`,
        value: dev.domain,
      });
    }
    const key = `${dev.devhandle}:${dev.requesterId}`;
    if (rids.has(key))
      out.push({
        path: `${at}/requesterId`,
        message: "requester ID already used on this root complex",
        value: dev.requesterId,
      });
    rids.add(key);
  });
  return out;
}
