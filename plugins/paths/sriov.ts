/**
 * sriov: SR-IOV virtual functions, the third kind of assigned I/O Oracle VM Server for SPARC
 * offers beside direct I/O (a whole PCIe endpoint) and virtual I/O (the service domain). One
 * physical function (an Ethernet port) is shared by many domains: each virtual function has its
 * own PCIe configuration space and dedicated resources (queues, interrupts) and uses the port's
 * shared common resources ("SR-IOV Overview", Oracle VM Server for SPARC 3.4 Administration
 * Guide). The root domain creates VFs on the PF (`ldm create-vf`) and assigns one to a domain
 * (`ldm add-io`), which drives it as its own device: here it negotiates DVMA with the control
 * domain and maps its own grants through the hypervisor, as on the direct path.
 *
 * In the model every `vfsPerPort` guest devices of one kind under one root complex, in machine
 * order, are the VFs of one physical port. Each keeps its own descriptor rings, requester ID and
 * interrupts (its device model); they take turns (round robin) on the port's PCIe link and on
 * its wire in each direction, so each gets an equal share of what the port can do when all want
 * more (as `bw-percent` 0, "a fair share of bandwidth", in `ldm create-vf`), and together they
 * never exceed the port's line rate or its link.
 */

import {
  type Completion,
  type DeviceModel,
  definePlugin,
  InputError,
  type IoOp,
  type IoPath,
  type IoRequest,
  type PathPlan,
  type Proc,
  type Signal,
  type Simulator,
  Type,
} from "../../core/index.ts";
import { DirectIo } from "./direct.ts";

const options = Type.Object(
  {
    vfsPerPort: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 7,
      description:
        "virtual functions on one physical port; device-specific (the SPARC onboard Intel 1 GbE PF's max-config-vfs is 7: Oracle VM Server for SPARC 3.4 Administration Guide, 'Advanced SR-IOV Topics')",
    }),
    domainsPerBus: Type.Integer({
      minimum: 1,
      maximum: 127,
      default: 31,
      description:
        "domains that endpoints and VFs of one PCIe bus may be assigned to: 31 from SPARC T7/M7/S7 on, 15 on earlier T- and M-series (Oracle VM Server for SPARC 3.5 Administration Guide, 'Current SR-IOV Feature Limitations')",
    }),
  },
  { additionalProperties: false },
);

/** A one-at-a-time server whose waiting functions take turns (round robin), each in FIFO order. */
class TakeTurns {
  private busy = false;
  private readonly waiting: Signal<void>[][];
  private next = 0;
  private count = 0;

  constructor(
    private readonly sim: Simulator,
    functions: number,
  ) {
    this.waiting = Array.from({ length: functions }, () => []);
  }

  get queued(): number {
    return this.count;
  }

  request(fn: number): Signal<void> {
    const s = this.sim.signal<void>();
    if (!this.busy) {
      this.busy = true;
      s.trigger();
    } else {
      this.waiting[fn]!.push(s);
      this.count++;
    }
    return s;
  }

  /** Hands the server to the next function in turn that is waiting, else frees it. */
  release(): void {
    if (!this.busy) throw new Error("TakeTurns.release() while free");
    if (this.count === 0) {
      this.busy = false;
      return;
    }
    const n = this.waiting.length;
    for (let k = 0; k < n; k++) {
      const fn = (this.next + k) % n;
      const q = this.waiting[fn]!;
      if (q.length > 0) {
        this.next = (fn + 1) % n;
        this.count--;
        q.shift()!.trigger();
        return;
      }
    }
  }
}

/**
 * What the VFs of one physical port share: its PCIe link in each direction (the data of every
 * VF's DMA) and its wire in each direction, both taken in turns.
 */
class PhysicalPort {
  private readonly link: readonly [TakeTurns, TakeTurns];
  private readonly wires: { tx: Wire; rx: Wire };

  constructor(sim: Simulator, vfs: number) {
    this.link = [new TakeTurns(sim, vfs), new TakeTurns(sim, vfs)];
    this.wires = { tx: new Wire(sim, vfs), rx: new Wire(sim, vfs) };
  }

  /** The link as VF `vf`'s DMA port sees it: its transfers wait for its turn. */
  linkOf(vf: number) {
    const lane = (t: TakeTurns) => ({ request: () => t.request(vf), release: () => t.release() });
    return [lane(this.link[0]), lane(this.link[1])] as const;
  }

  /** VF `vf`'s turn on the wire of `op`'s direction for a frame of `ns` (exact) ns. */
  pace(op: IoOp, vf: number, ns: number): Proc<void> {
    return this.wires[op === "rx" ? "rx" : "tx"].pass(vf, ns);
  }
}

/**
 * One direction of the port's wire: VFs take turns; a frame whose turn comes holds it for its
 * time at line rate (kept exact, so frames chain without rounding drift) before the next VF's.
 */
class Wire {
  private readonly turns: TakeTurns;
  private end = 0;
  private readonly free = () => this.turns.release();

  constructor(
    private readonly sim: Simulator,
    vfs: number,
  ) {
    this.turns = new TakeTurns(sim, vfs);
  }

  *pass(vf: number, ns: number): Proc<void> {
    yield this.turns.request(vf);
    const now = this.sim.now;
    const start = now < this.end + 1 ? this.end : now;
    this.end = start + ns;
    this.sim.at(Math.max(now, Math.ceil(this.end)), this.free);
  }
}

/** A VF: its own device model (queues, requester ID, interrupts) paced by its physical port. */
class VirtualFunction implements DeviceModel {
  readonly kind: string;
  readonly port: DeviceModel["port"];
  readonly maxBytes: number;
  readonly frameBytes: number;
  readonly ringBytes: number;

  constructor(
    private readonly fn: DeviceModel,
    private readonly phys: PhysicalPort,
    private readonly index: number,
  ) {
    this.kind = fn.kind;
    this.port = fn.port;
    this.maxBytes = fn.maxBytes;
    this.frameBytes = fn.frameBytes;
    this.ringBytes = fn.ringBytes;
  }

  setRing(dvma: number): void {
    this.fn.setRing(dvma);
  }

  *execute(req: IoRequest, dvma: number, tag: number, cpu: number, c?: Completion): Proc<number> {
    const ns = this.fn.wireNs?.(req.bytes);
    if (ns !== undefined) yield* this.phys.pace(req.op, this.index, ns);
    return yield* this.fn.execute(req, dvma, tag, cpu, c);
  }
}

interface VfPlace {
  port: string;
  index: number;
  vfs: number;
}

/**
 * Which physical port and VF index each guest device is: per root complex and device kind,
 * guest devices in machine order, `vfsPerPort` to a port. Refuses a bus serving more domains
 * than the platform allows.
 */
function placeVfs(md: PathPlan["md"], o: typeof options.static): Map<string, VfPlace> {
  const guests = new Set(md.domains.filter((d) => d.role === "guest").map((d) => d.name));
  const groups = new Map<string, string[]>();
  for (const rc of md.rootComplexes) {
    const devs = md.devices.filter((d) => d.devhandle === rc.devhandle && guests.has(d.domain));
    const domains = new Set(devs.map((d) => d.domain)).size;
    if (domains > o.domainsPerBus)
      throw new InputError(
        `sriov: root complex 0x${rc.devhandle.toString(16)} has VFs in ${domains} domains; a PCIe bus serves at most ${o.domainsPerBus} (option domainsPerBus)`,
      );
    for (const d of devs) {
      const key = `0x${rc.devhandle.toString(16)}/${d.kind}`;
      let g = groups.get(key);
      if (g === undefined) groups.set(key, (g = []));
      g.push(d.name);
    }
  }
  const out = new Map<string, VfPlace>();
  for (const [key, names] of groups) {
    names.forEach((name, i) => {
      const p = Math.floor(i / o.vfsPerPort);
      const vfs = Math.min(o.vfsPerPort, names.length - p * o.vfsPerPort);
      out.set(name, { port: `${key}/pf${p}`, index: i % o.vfsPerPort, vfs });
    });
  }
  return out;
}

export default definePlugin({
  name: "sriov",
  kind: "path",
  version: "1.0.0",
  description:
    "SR-IOV: a virtual function per guest (own queues and requester ID, guest-negotiated DVMA) sharing its physical port's line rate and PCIe link fairly",
  options,
  setup(_ctx, o): IoPath {
    let places = new Map<string, VfPlace>();
    const ports = new Map<string, PhysicalPort>();
    return {
      name: "sriov",
      plan(p: PathPlan): PathPlan {
        places = placeVfs(p.md, o);
        ports.clear();
        // Each VF is its own requester ID, and the hypervisor binds it to its domain's DVMA, as
        // SR-IOV needs to keep functions of one device apart (assumed for sun4v: the per-device mode).
        const vfBuses = new Set(
          p.md.devices.filter((d) => places.has(d.name)).map((d) => d.devhandle),
        );
        return {
          ...p,
          md: {
            ...p.md,
            rootComplexes: p.md.rootComplexes.map((rc) =>
              vfBuses.has(rc.devhandle) ? { ...rc, isolation: "per-device" as const } : rc,
            ),
          },
        };
      },
      connect(env) {
        const place = places.get(env.device.port.name);
        if (place === undefined) throw new Error(`sriov: ${env.device.port.name} is not a VF`);
        let phys = ports.get(place.port);
        if (phys === undefined)
          ports.set(place.port, (phys = new PhysicalPort(env.platform.sim, place.vfs)));
        env.device.port.useLink(phys.linkOf(place.index));
        return new DirectIo({ ...env, device: new VirtualFunction(env.device, phys, place.index) });
      },
    };
  },
});
