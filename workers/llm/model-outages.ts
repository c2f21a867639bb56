// Groq models that answered "no such model" (groq_model_outages in D1), per variable naming
// them. The first such answer makes the row and raises the one alert; while the row exists the
// caller does without the model (summaries skipped, extractive answers) and asks it again at
// most every PROBE_INTERVAL_MS; the first real answer deletes the row. A corrected variable names
// another model id, which has no row: it is used at once.
import { and, eq, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { prepare } from "../db/prepare";
import { groqModelOutages } from "../db/schema";
import { withStorage } from "../db/with-storage";
import { logError, logInfo } from "../log";
import type { ModelUnavailableCode } from "./groq-models";

export type ModelOutage = { code: string; since: number; checkedAt: number };

/** How long a model that answered "no such model" is left alone before it is asked again. */
export const PROBE_INTERVAL_MS = 30 * 60_000;

/** Which model, named by which variable, serving which capability (for the alert and /healthz). */
export type ModelRole = { variable: string; model: string; capability: string; withoutIt: string };

export async function modelOutage(db: Database, role: Pick<ModelRole, "variable" | "model">): Promise<ModelOutage | null> {
  const [row] = await withStorage("reading the model state", () =>
    db
      .select({ code: groqModelOutages.code, since: groqModelOutages.since, checkedAt: groqModelOutages.checkedAt })
      .from(groqModelOutages)
      .where(and(eq(groqModelOutages.variable, role.variable), eq(groqModelOutages.model, role.model))),
  );
  return row ?? null;
}

/** The model is known not to answer and was asked recently: do without it. */
export const skipModel = (outage: ModelOutage | null, now: number) => outage !== null && now - outage.checkedAt < PROBE_INTERVAL_MS;

/**
 * Records that the model answered `code`. The first time (no row yet) this is the one alert,
 * naming the variable to fix; later answers only move `checked_at`.
 */
export async function reportModelUnavailable(db: Database, role: ModelRole, code: ModelUnavailableCode, now: number): Promise<void> {
  const [inserted] = await withStorage("recording the model state", () =>
    db.$client.batch([
      prepare(
        db,
        sql`INSERT INTO ${groqModelOutages} ("variable", "model", "code", "since", "checked_at")
          VALUES (${role.variable}, ${role.model}, ${code}, ${now}, ${now})
          ON CONFLICT ("variable", "model") DO NOTHING RETURNING "since"`,
      ),
      prepare(db, sql`UPDATE ${groqModelOutages} SET "checked_at" = ${now}, "code" = ${code} WHERE "variable" = ${role.variable} AND "model" = ${role.model}`),
    ]),
  );
  if ((inserted?.results.length ?? 0) > 0) {
    logError("language model unavailable", {
      capability: role.capability,
      variable: role.variable,
      model: role.model,
      code,
      effect: role.withoutIt,
      alert: true,
    });
  }
}

/** The model answered: forget the outage (one statement, only when there was one). */
export async function clearModelOutage(db: Database, role: Pick<ModelRole, "variable" | "model">): Promise<void> {
  await withStorage("clearing the model state", () =>
    db.delete(groqModelOutages).where(and(eq(groqModelOutages.variable, role.variable), eq(groqModelOutages.model, role.model))),
  );
  logInfo("language model answers again", { variable: role.variable, model: role.model });
}

/** The /healthz line for a capability whose model is out, naming the variable; none while it answers. */
export async function outageProblems(db: Database, role: ModelRole): Promise<string[]> {
  const outage = await modelOutage(db, role);
  if (!outage) return [];
  return [
    `${role.variable}: Groq answers ${outage.code} for ${role.model} (since ${new Date(outage.since).toISOString()}); ${role.withoutIt} until it answers: set ${role.variable} to a model Groq serves`,
  ];
}
