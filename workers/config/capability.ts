// Each capability (Aircall intake, Guesty intake, the Rocket.Chat bot, backups, the admin API, …;
// workers/capabilities.ts lists them all) declares the variables it needs and parses only those.
// A capability whose variables are missing or malformed answers 503 naming them (never their
// values) while every other capability keeps working, and /healthz lists which capabilities are
// configured, and which of them, though configured, run degraded (a capability reports that
// through its own `degradation` hook, so this module and /healthz stay free of any one feature's
// code).
import { z } from "zod";
import { AppError } from "../http/errors";

export type CapabilityStatus =
  | { configured: true }
  /** Configured, but working without part of what it offers; `problems` name the variable to fix. */
  | { configured: true; degraded: true; problems: string[] }
  | { configured: false; problems: string[] };

/** A variable that is set but cannot be used; thrown by a capability's `build` step. */
export class ConfigProblem extends Error {
  constructor(readonly problem: string) {
    super(problem);
    this.name = "ConfigProblem";
  }
}

/** The 503 a request to an unconfigured capability gets; the sender (or operator) retries later. */
export class CapabilityNotConfigured extends AppError {
  constructor(
    readonly capability: string,
    readonly problems: string[],
  ) {
    super(503, `${capability} is not configured: ${problems.join("; ")}`, `${capability} not configured`, true);
    this.name = "CapabilityNotConfigured";
  }
}

export type Capability<T> = {
  /** Human name used in errors and /healthz, e.g. "aircall intake". */
  readonly name: string;
  readonly variables: readonly string[];
  /** The parsed configuration; throws CapabilityNotConfigured. Cached per env object once it succeeds. */
  load(env: Env): Promise<T>;
  /** Like load, but null where load throws CapabilityNotConfigured: for work that is simply off without it. */
  loadIfConfigured(env: Env): Promise<T | null>;
  status(env: Env): Promise<CapabilityStatus>;
};

type Outcome<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Unset and empty variables are the same thing to an operator: "not set". */
const unsetWhenEmpty = (value: unknown) => (value === "" ? undefined : value);

export function defineCapability<Shape extends z.ZodRawShape, T>(options: {
  name: string;
  variables: Shape;
  build: (values: z.output<z.ZodObject<Shape>>) => T | Promise<T>;
  /**
   * What the configured capability currently cannot do (e.g. its model stopped answering), as
   * lines naming the variable; [] when nothing. Only /healthz asks. A failure here (storage down)
   * reports nothing: the storage check says so.
   */
  degradation?: (value: T, env: Env) => Promise<string[]>;
}): Capability<T> {
  const variables = Object.keys(options.variables);
  const schema = z.object(options.variables);
  const loaded = new WeakMap<object, T>();

  async function evaluate(env: Env): Promise<Outcome<T>> {
    const cached = loaded.get(env);
    if (cached !== undefined) return { ok: true, value: cached };
    const input = Object.fromEntries(variables.map((name) => [name, unsetWhenEmpty((env as unknown as Record<string, unknown>)[name])]));
    const parsed = schema.safeParse(input);
    if (!parsed.success) {
      // Messages name the variable; a value is never part of them.
      const problems = parsed.error.issues.map((issue) => {
        const variable = String(issue.path[0] ?? "configuration");
        return input[variable] === undefined ? `${variable} is not set` : `${variable}: ${issue.message}`;
      });
      return { ok: false, problems: [...new Set(problems)] };
    }
    try {
      const value = await options.build(parsed.data);
      // Only a success is cached: a failed build is tried again on the next request.
      loaded.set(env, value);
      return { ok: true, value };
    } catch (error) {
      if (error instanceof ConfigProblem) return { ok: false, problems: [error.problem] };
      throw error;
    }
  }

  return {
    name: options.name,
    variables,
    async load(env) {
      const outcome = await evaluate(env);
      if (!outcome.ok) throw new CapabilityNotConfigured(options.name, outcome.problems);
      return outcome.value;
    },
    async loadIfConfigured(env) {
      const outcome = await evaluate(env);
      return outcome.ok ? outcome.value : null;
    },
    async status(env) {
      const outcome = await evaluate(env);
      if (!outcome.ok) return { configured: false, problems: outcome.problems };
      const problems = options.degradation ? await options.degradation(outcome.value, env).catch(() => []) : [];
      return problems.length > 0 ? { configured: true, degraded: true, problems } : { configured: true };
    },
  };
}
