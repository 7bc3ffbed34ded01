/** How a bad value reads in an error message: the number or string itself, else its kind. */
export function describe(v: unknown): string {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null || v === undefined) return String(v);
  if (typeof v === "object") return `an object (${v.constructor?.name ?? "Object"})`;
  return `a ${typeof v}`;
}

/** The error for a delay or time that is not a non-negative safe integer of ns. */
export function badDelay(what: string, v: unknown): RangeError {
  return new RangeError(
    `${what} must be a non-negative safe integer number of ns, got ${describe(v)}`,
  );
}
