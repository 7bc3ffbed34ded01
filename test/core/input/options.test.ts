import { describe, expect, test } from "bun:test";
import type { TNumber } from "@sinclair/typebox";
import { InputError, parseWithSchema, schemaProblems, Type } from "../../../core/index.ts";
import { compileOptions, describeSchema, formatValue } from "../../../core/input/validate.ts";

const WHERE = 'plugin "first-fit" option ';

const Opts = Type.Object(
  {
    align: Type.Integer({ minimum: 1, default: 1 }),
    mode: Type.Union([Type.Literal("shared"), Type.Literal("per-device")], { default: "shared" }),
    maxPages: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 4096, description: "pages per guest" }),
    ),
    name: Type.Optional(Type.String({ pattern: "^[a-z]+$" })),
    queues: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1, maxItems: 4 })),
  },
  { additionalProperties: false },
);

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error("expected an InputError");
}

describe("parseWithSchema", () => {
  test("applies defaults; undefined counts as {} for an object schema", () => {
    expect(parseWithSchema(Opts, undefined, WHERE)).toEqual({ align: 1, mode: "shared" });
    expect(parseWithSchema(Opts, { align: 8 }, WHERE)).toEqual({ align: 8, mode: "shared" });
  });

  test("converts strings from the command line and never mutates its input", () => {
    const raw = { align: "16", maxPages: "64" };
    expect(parseWithSchema(Opts, raw, WHERE)).toEqual({ align: 16, mode: "shared", maxPages: 64 });
    expect(raw).toEqual({ align: "16", maxPages: "64" });
  });

  test("drops undeclared keys of an open object, rejects them in a strict one", () => {
    const Open = Type.Object({ a: Type.Number() });
    expect(parseWithSchema(Open, { a: 1, b: 2 }, "x ")).toEqual({ a: 1 });
    const e = inputError(() => parseWithSchema(Opts, { algin: 4 }, WHERE));
    expect(e.message).toBe(
      `${WHERE}/algin: Unknown property (did you mean "align"?) (got 4; allowed: properties align, mode, maxPages, name, queues)`,
    );
  });

  test("the message of the brief: where, JSON pointer, problem, value, what is allowed", () => {
    const e = inputError(() => parseWithSchema(Opts, { align: "x" }, WHERE));
    expect(e.message).toBe(
      `${WHERE}/align: Expected integer (got "x"; allowed: integer ≥ 1 (default 1))`,
    );
    expect(e.problems).toEqual([
      {
        path: "/align",
        message: "Expected integer",
        value: "x",
        allowed: "integer ≥ 1 (default 1)",
      } as never,
    ]);
    expect(e.exitCode).toBe(2);
    expect(e.code).toBe("INPUT_ERROR");
  });

  test("bounds, description, enum values, pattern, nested paths", () => {
    const e = inputError(() =>
      parseWithSchema(
        Opts,
        { align: 0, mode: "sharde", maxPages: 5000, name: "A1", queues: [1, -2] },
        WHERE,
      ),
    );
    expect(e.message.split("\n")).toEqual([
      `${WHERE}/align: Expected integer to be greater or equal to 1 (got 0; allowed: integer ≥ 1 (default 1))`,
      `${WHERE}/mode: Expected one of the allowed values (did you mean "shared"?) (got "sharde"; allowed: "shared" or "per-device" (default "shared"))`,
      `${WHERE}/maxPages: Expected integer to be less or equal to 4096 (got 5000; allowed: integer from 1 to 4096 — pages per guest)`,
      `${WHERE}/name: Expected string to match '^[a-z]+$' (got "A1"; allowed: string matching /^[a-z]+$/)`,
      `${WHERE}/queues/1: Expected integer to be greater or equal to 0 (got -2; allowed: integer ≥ 0)`,
    ]);
    expect(e.problems.map((p) => p.path)).toEqual([
      "/align",
      "/mode",
      "/maxPages",
      "/name",
      "/queues/1",
    ]);
  });

  test("shows at most 5 problems, keeps them all in .problems", () => {
    const Many = Type.Object(
      Object.fromEntries("abcdefgh".split("").map((k) => [k, Type.Number()])) as Record<
        string,
        TNumber
      >,
    );
    const e = inputError(() => parseWithSchema(Many, {}, "scenario "));
    const lines = e.message.split("\n");
    expect(lines.length).toBe(6);
    expect(lines[0]).toBe("scenario /a: Missing required property (got nothing; allowed: number)");
    expect(lines[5]).toBe("… and 3 more problems");
    expect(e.problems.length).toBe(8);
  });

  test("a non-object where an object is expected reports the root as /", () => {
    const e = inputError(() => parseWithSchema(Opts, 5, "machine "));
    expect(e.message).toStartWith(
      "machine /: Expected object (got 5; allowed: object with align, mode, maxPages?, name?, queues?)",
    );
  });

  test("transforms are decoded; a throwing decode becomes an InputError", () => {
    const Hex = Type.Transform(Type.String())
      .Decode((s) => {
        const n = Number.parseInt(s, 16);
        if (Number.isNaN(n)) throw new Error(`not hex: ${s}`);
        return n;
      })
      .Encode((n) => n.toString(16));
    const S = Type.Object({ base: Hex });
    expect(parseWithSchema(S, { base: "ff" }, "md ")).toEqual({ base: 255 });
    expect(inputError(() => parseWithSchema(S, { base: "zz" }, "md ")).message).toContain(
      "not hex: zz",
    );
  });
});

describe("helpers", () => {
  test("compileOptions compiles once per schema", () => {
    expect(compileOptions(Opts)).toBe(compileOptions(Opts));
    expect(compileOptions(Opts).Check({ align: 1, mode: "shared" })).toBe(true);
  });

  test("schemaProblems is empty for a valid value and lists one problem per path", () => {
    expect(schemaProblems(Opts, { align: 1, mode: "shared" })).toEqual([]);
    expect(schemaProblems(Type.Object({ n: Type.Number() }), {}).length).toBe(1);
  });

  test("describeSchema", () => {
    expect(describeSchema(Type.Integer({ exclusiveMinimum: 0, multipleOf: 2 }))).toBe(
      "integer > 0, multiple of 2",
    );
    expect(describeSchema(Type.String({ minLength: 1, maxLength: 8 }))).toBe(
      "string of 1 to 8 characters",
    );
    expect(describeSchema(Type.Boolean())).toBe("true or false");
    expect(describeSchema(Type.Array(Type.String(), { minItems: 2 }))).toBe(
      "array of string of at least 2 items",
    );
    expect(describeSchema(Type.Union([Type.Integer(), Type.Null()]))).toBe("integer or null");
    expect(describeSchema(Type.Literal(3))).toBe("3");
  });

  test("formatValue", () => {
    expect(formatValue(undefined)).toBe("nothing");
    expect(formatValue(3n)).toBe("3n");
    expect(formatValue(Number.NaN)).toBe("NaN");
    expect(formatValue("x")).toBe('"x"');
    expect(formatValue({ a: "x".repeat(100) }).length).toBe(60);
    expect(formatValue(() => 1)).toBe("a function");
  });
});
