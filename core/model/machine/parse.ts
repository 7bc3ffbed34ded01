import { InputError } from "../../input/errors.ts";
import { formatProblems, parseWithSchema } from "../../input/validate.ts";
import { type CostModel, CostModelSchema } from "./cost-model.ts";
import {
  expandGuestPool,
  type MachineDescription,
  MachineSchema,
  machineProblems,
} from "./description.ts";

/** Validates a machine description (schema, then cross-field rules); throws InputError naming each field. */
export function parseMachine(raw: unknown, where = "machine "): MachineDescription {
  const md = expandGuestPool(parseWithSchema(MachineSchema, raw, where));
  const problems = machineProblems(md).map((p) => ({ ...p, value: p.value }));
  if (problems.length > 0) throw new InputError(formatProblems(where, problems), problems);
  return md;
}

/** Validates a (partial) cost model and fills in the defaults. */
export function parseCostModel(raw: unknown = {}, where = "cost model "): CostModel {
  return parseWithSchema(CostModelSchema, raw, where);
}
