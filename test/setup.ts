import { setDefaultTimeout } from "bun:test";

// Property tests and the ABI fuzz run many cases; bunfig's [test] timeout is ignored by Bun.
setDefaultTimeout(60_000);
