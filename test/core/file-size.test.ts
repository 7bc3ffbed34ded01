/** No file in core/ is over 400 lines: files stay small and named for what they hold. */
import { expect, test } from "bun:test";
import { resolve } from "node:path";

const CORE = resolve(import.meta.dir, "../../core");
const MAX_LINES = 400;

/** Lines of a source text (a final newline does not start another line). */
function lineCount(text: string): number {
  if (text === "") return 0;
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

test(`every file in core has at most ${MAX_LINES} lines`, async () => {
  const over: string[] = [];
  let files = 0;
  for await (const f of new Bun.Glob("**/*.{ts,tsx,js,html,css}").scan({ cwd: CORE })) {
    files++;
    const n = lineCount(await Bun.file(resolve(CORE, f)).text());
    if (n > MAX_LINES) over.push(`core/${f}: ${n} lines`);
  }
  expect(files).toBeGreaterThan(50);
  expect(over).toEqual([]);
});

test("lines are counted as an editor shows them", () => {
  expect(lineCount("")).toBe(0);
  expect(lineCount("a")).toBe(1);
  expect(lineCount("a\n")).toBe(1);
  expect(lineCount("a\nb\n")).toBe(2);
  expect(lineCount(`${"x\n".repeat(401)}`)).toBe(401);
});
