/**
 * Reads recorded DMA mappings into a timed op list (play-ops.ts): Linux ftrace text of the
 * `iommu:map` / `iommu:unmap` tracepoints (include/trace/events/iommu.h, as the tracefs
 * `trace` file and `trace-cmd report` print it), or a plain CSV. Not a plugin.
 *
 * ftrace lines: `task-pid [CPU] flags seconds: map: IOMMU: iova=0x… paddr=0x… size=N` (older
 * kernels) or `iova=0x… - 0x… paddr=…` (newer), and `unmap: IOMMU: iova=0x… size=N
 * unmapped_size=N` (newer: with ` - 0x…`). The CPU column gives the vCPU, the timestamp the
 * time (from the first event), the size the pages (8 KiB IO pages, rounded up); an unmap pairs
 * with the live map at its iova. Comment lines (#) and other events are skipped.
 *
 * CSV: a header `time_ns,cpu,op,size_bytes,id`, then one op per line (op: map or unmap; an
 * unmap names the id of its map).
 *
 * Every line that cannot be read is reported with its number; unmaps of mappings made before
 * the trace began are counted, not errors.
 */

import type { TimedOp } from "./play-ops.ts";

const PAGE = 8192;

export interface ParsedTrace {
  ops: TimedOp[];
  /** Unmaps with no live map at their iova (or id): made before the trace began. */
  unpaired: number;
  /** Line number and what is wrong, for each unreadable line. */
  problems: { line: number; message: string }[];
}

const FTRACE =
  /^\s*.+?-\d+\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(?:\S+\s+)?(\d+\.\d+):\s+(?:iommu:)?(\w+):\s*(.*)$/;
const HEX = "0x[0-9a-fA-F]+";
const MAP = new RegExp(`^IOMMU: iova=(${HEX})(?: - ${HEX})? paddr=${HEX} size=(\\d+)\\s*$`);
const UNMAP = new RegExp(
  `^IOMMU: iova=(${HEX})(?: - ${HEX})? size=(\\d+) unmapped_size=(\\d+)\\s*$`,
);

const pagesOf = (bytes: number) => Math.max(1, Math.ceil(bytes / PAGE));

/** Parses ftrace or CSV text (`format` "auto" looks at the first non-comment line). */
export function parseTrace(text: string, format: "auto" | "ftrace" | "csv"): ParsedTrace {
  const lines = text.split(/\r?\n/);
  const first = lines.find((l) => l.trim() !== "" && !l.trimStart().startsWith("#")) ?? "";
  const csv = format === "csv" || (format === "auto" && first.trim().startsWith("time_ns,"));
  return csv ? parseCsv(lines) : parseFtrace(lines);
}

/** Pairs each unmap with the map it undoes, by a key (the IOVA, or the CSV's id). */
class Pairs {
  private readonly live = new Map<string, { id: number; npages: number }>();
  private next = 0;

  constructor(private readonly out: ParsedTrace) {}

  has(key: string): boolean {
    return this.live.has(key);
  }

  map(key: string, npages: number, cpu: number, atNs: number): void {
    this.live.set(key, { id: this.next, npages });
    this.out.ops.push({ op: "map", id: this.next++, npages, cpu, atNs });
  }

  /** An unmap of nothing mapped (its map was before the trace began) is counted, not replayed. */
  unmap(key: string, cpu: number, atNs: number): void {
    const mapped = this.live.get(key);
    if (mapped === undefined) {
      this.out.unpaired++;
      return;
    }
    this.live.delete(key);
    this.out.ops.push({ op: "unmap", id: mapped.id, npages: mapped.npages, cpu, atNs });
  }
}

function parseFtrace(lines: string[]): ParsedTrace {
  const out: ParsedTrace = { ops: [], unpaired: 0, problems: [] };
  const pairs = new Pairs(out);
  let t0 = -1;
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "" || raw.trimStart().startsWith("#")) return;
    const m = FTRACE.exec(raw);
    if (m === null) {
      out.problems.push({
        line,
        message: "not an ftrace event line (task-pid [cpu] ... seconds: event: ...)",
      });
      return;
    }
    const [, cpuText, secText, event, fields] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    if (event !== "map" && event !== "unmap") return;
    const seconds = Number(secText);
    if (t0 < 0) t0 = seconds;
    const atNs = Math.round((seconds - t0) * 1e9);
    if (atNs < 0) {
      out.problems.push({ line, message: `timestamp ${secText} s is before the first event's` });
      return;
    }
    const cpu = Number(cpuText);
    if (event === "map") {
      const f = MAP.exec(fields);
      if (f === null) {
        out.problems.push({
          line,
          message: "map: expected IOMMU: iova=0x… [- 0x…] paddr=0x… size=N",
        });
        return;
      }
      pairs.map(f[1]!.toLowerCase(), pagesOf(Number(f[2])), cpu, atNs);
    } else {
      const f = UNMAP.exec(fields);
      if (f === null) {
        out.problems.push({
          line,
          message: "unmap: expected IOMMU: iova=0x… [- 0x…] size=N unmapped_size=N",
        });
        return;
      }
      pairs.unmap(f[1]!.toLowerCase(), cpu, atNs);
    }
  });
  return out;
}

function parseCsv(lines: string[]): ParsedTrace {
  const out: ParsedTrace = { ops: [], unpaired: 0, problems: [] };
  const pairs = new Pairs(out);
  let header = false;
  let last = 0;
  lines.forEach((raw, i) => {
    const line = i + 1;
    const text = raw.trim();
    if (text === "" || text.startsWith("#")) return;
    if (!header) {
      header = true;
      if (text.replaceAll(" ", "") !== "time_ns,cpu,op,size_bytes,id")
        out.problems.push({ line, message: "expected the header time_ns,cpu,op,size_bytes,id" });
      return;
    }
    const cells = text.split(",").map((c) => c.trim());
    if (cells.length !== 5) {
      out.problems.push({
        line,
        message: `expected 5 fields (time_ns,cpu,op,size_bytes,id), got ${cells.length}`,
      });
      return;
    }
    const [timeText, cpuText, op, sizeText, key] = cells as [
      string,
      string,
      string,
      string,
      string,
    ];
    const atNs = Number(timeText);
    const cpu = Number(cpuText);
    const size = Number(sizeText);
    const bad =
      !/^\d+$/.test(timeText) || !Number.isSafeInteger(atNs)
        ? `time_ns ${JSON.stringify(timeText)} is not a whole number of ns`
        : !/^\d+$/.test(cpuText) || cpu > 4095
          ? `cpu ${JSON.stringify(cpuText)} is not a CPU number`
          : op !== "map" && op !== "unmap"
            ? `op ${JSON.stringify(op)} is not map or unmap`
            : !/^\d+$/.test(sizeText) || size < 1 || !Number.isSafeInteger(size)
              ? `size_bytes ${JSON.stringify(sizeText)} is not a positive whole number`
              : key === ""
                ? "id is empty"
                : atNs < last
                  ? `time_ns ${atNs} is before the line above (${last})`
                  : undefined;
    if (bad !== undefined) {
      out.problems.push({ line, message: bad });
      return;
    }
    last = atNs;
    if (op === "unmap") pairs.unmap(key, cpu, atNs);
    else if (pairs.has(key)) out.problems.push({ line, message: `id ${key} is already mapped` });
    else pairs.map(key, pagesOf(size), cpu, atNs);
  });
  if (!header)
    out.problems.push({
      line: 1,
      message: "empty: expected the header time_ns,cpu,op,size_bytes,id",
    });
  return out;
}
