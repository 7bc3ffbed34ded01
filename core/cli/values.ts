/** Flag values checked by the same schema rules a scenario file obeys, with one-line messages. */

import { DurationSchema, ScenarioSchema } from "../harness/scenario/define.ts";
import { InputError } from "../input/errors.ts";
import { compileOptions, describeSchema } from "../input/validate.ts";

const SeedSchema = ScenarioSchema.properties.seed;

/** `--seed N`: an integer in the scenario's seed range (runs and check-policy alike). @throws InputError */
export function seedFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!compileOptions(SeedSchema).Check(n))
    throw new InputError(`--seed ${JSON.stringify(text)}: expected ${describeSchema(SeedSchema)}`);
  return n;
}

/** A duration flag: a time > 0 with a unit. @throws InputError */
export function durationFlag(flag: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!compileOptions(DurationSchema).Check(text))
    throw new InputError(
      `--${flag} ${JSON.stringify(text)}: expected a time > 0 with a unit (ns, us, ms or s) in whole nanoseconds, e.g. 20ms`,
    );
  return text;
}
