// Every variable and secret the Worker reads, parsed in one place. A missing or malformed
// value fails with an error that names it (never its value).
import { z } from "zod";

const commaList = (name: string, item: z.ZodString) =>
  z
    .string({ error: `${name} is not set` })
    .transform((raw) => raw.split(",").map((part) => part.trim()).filter((part) => part.length > 0))
    .pipe(z.array(item).min(1, { error: `${name} must list at least one value` }));

const svixSecret = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, { error: "GUESTY_WEBHOOK_SECRETS entries must look like whsec_<base64>" });

const configSchema = z.object({
  AIRCALL_WEBHOOK_TOKENS: commaList(
    "AIRCALL_WEBHOOK_TOKENS",
    z.string().min(8, { error: "AIRCALL_WEBHOOK_TOKENS entries must be at least 8 characters" }),
  ),
  GUESTY_WEBHOOK_SECRETS: commaList("GUESTY_WEBHOOK_SECRETS", svixSecret),
  ADMIN_TOKEN: z
    .string({ error: "ADMIN_TOKEN is not set" })
    .min(16, { error: "ADMIN_TOKEN must be at least 16 characters" }),
});

export type Config = {
  aircallTokens: string[];
  guestySecrets: string[];
  adminToken: string;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
    this.name = "ConfigError";
  }
}

const cache = new WeakMap<object, Config>();

/** Parses the Worker's configuration from its env; cached per env object. Throws ConfigError. */
export function loadConfig(env: Env): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    // Issue messages name the variable; zod never echoes the offending value here.
    throw new ConfigError(parsed.error.issues.map((issue) => issue.message));
  }
  const config: Config = {
    aircallTokens: parsed.data.AIRCALL_WEBHOOK_TOKENS,
    guestySecrets: parsed.data.GUESTY_WEBHOOK_SECRETS,
    adminToken: parsed.data.ADMIN_TOKEN,
  };
  cache.set(env, config);
  return config;
}
