// The zod building blocks of the experiment schema (schema.ts and the generated runSpec.gen.ts).
// Every check carries its own message: the "expected ..." part of an ExperimentIssue.
import { z } from "zod";

export const int = (lo: number, hi: number, error = `an integer in [${lo}, ${hi}]`) =>
  z.number({ error }).int({ error }).min(lo, { error }).max(hi, { error });

export const num = (lo: number, hi: number, error = `a finite number in [${lo}, ${hi}]`) =>
  z.number({ error }).min(lo, { error }).max(hi, { error });

/** `value` (e.g. -1 = inherit) or what `base` allows. */
export const special = (value: number, base: z.ZodNumber, error: string) =>
  (base.isInt ? z.number({ error }).int({ error }) : z.number({ error })).refine((v) => v === value || base.safeParse(v).success, {
    error,
  });

/** A list of at most `maxItems` items, each checked by `item`. */
export const ints = (item: z.ZodNumber, maxItems: number, error: string) =>
  z.array(item, { error: "a list of integers" }).max(maxItems, { error });

export const bool = () => z.boolean({ error: "true or false" });
export const str = () => z.string({ error: "a string" });
/** A string the whole of which `re` matches (anchor it). */
export const text = (re: RegExp, error: string) => z.string({ error }).regex(re, { error });
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `one of ${values.join(", ")}` });
export const obj = <S extends z.ZodRawShape>(shape: S) => z.strictObject(shape, { error: "an object" });
