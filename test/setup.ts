import { setDefaultTimeout } from "bun:test";
import "./helpers/fc.ts";

// Property tests and the ABI fuzz run many cases; bunfig's [test] timeout is ignored by Bun.
setDefaultTimeout(60_000);
