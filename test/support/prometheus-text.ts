/// <reference path="./parse-prometheus-text-format.d.ts" />
// /api/metrics as Prometheus would read it: parsed by parse-prometheus-text-format (a port of
// the Prometheus Python client's parser, output shaped like prom2json's), never by regex. Shared
// by the workerd suites and the Node browser test.
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { z } from "zod";

const sampleSchema = z.object({
  value: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  buckets: z.record(z.string(), z.string()).optional(),
  count: z.string().optional(),
  sum: z.string().optional(),
});
const familySchema = z.object({ name: z.string(), help: z.string(), type: z.enum(["COUNTER", "GAUGE", "HISTOGRAM", "SUMMARY", "UNTYPED"]), metrics: z.array(sampleSchema) });
export type MetricFamily = z.infer<typeof familySchema>;

export function parseExposition(text: string): MetricFamily[] {
  return z.array(familySchema).parse(parsePrometheusTextFormat(text));
}

export function family(families: readonly MetricFamily[], name: string): MetricFamily {
  const found = families.find((entry) => entry.name === name);
  if (!found) throw new Error(`no metric family ${name}`);
  return found;
}

/** The sum of the samples of `name` whose labels include `labels` (0 when none). */
export function valueOf(families: readonly MetricFamily[], name: string, labels: Record<string, string> = {}): number {
  return family(families, name)
    .metrics.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value))
    .reduce((sum, sample) => sum + Number(sample.value ?? 0), 0);
}
