import fc from "fast-check";

/**
 * One fast-check seed for the whole test run, so every property replays: FC_SEED from the
 * environment, else a fixed default. fast-check prints `{ seed, path }` with any counterexample;
 * rerun with FC_SEED=<seed> to get it again. Loaded by test/setup.ts, so every property test
 * (fc.assert anywhere) uses it.
 */
export const FC_SEED = process.env.FC_SEED === undefined ? 0x5eed : Number(process.env.FC_SEED);
if (!Number.isSafeInteger(FC_SEED))
  throw new Error(`FC_SEED=${process.env.FC_SEED}: not an integer`);

fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: FC_SEED });
