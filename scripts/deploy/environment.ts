// What one wrangler.toml environment needs on the account, read with wrangler's own config reader
// (the same rules `wrangler deploy --env <env>` applies: bindings are not inherited by [env.*]).
import { experimental_readRawConfig, unstable_readConfig } from "wrangler";
import { z } from "zod";

export type D1Need = {
  binding: string;
  /** The database's name: created by name when missing, bound by name at deploy. */
  name: string;
  /** Set only when wrangler.toml pins an id (then the database is not managed here). */
  id: string | null;
  /** Whether the binding has migrations to apply (`migrations_dir`). */
  migrations: boolean;
  /** What `wrangler d1 migrations apply` is given: the name in wrangler.toml, else the binding. */
  migrationsTarget: string;
};

export type KvNeed = {
  binding: string;
  id: string | null;
  /** The title wrangler's automatic provisioning gives a namespace it creates for this binding. */
  provisionedTitle: string;
};

export type DeployEnvironment = {
  env: string;
  workerName: string;
  /** Every queue the environment produces to, consumes from or dead-letters into, in config order. */
  queues: string[];
  d1: D1Need[];
  kv: KvNeed[];
};

const environmentSchema = z.object({
  name: z.string().min(1),
  queues: z.object({
    producers: z.array(z.object({ queue: z.string().min(1) }).loose()).default([]),
    consumers: z.array(z.object({ queue: z.string().min(1), dead_letter_queue: z.string().min(1).optional() }).loose()).default([]),
  }),
  d1_databases: z.array(
    z
      .object({
        binding: z.string().min(1),
        database_name: z.string().min(1).optional(),
        database_id: z.string().min(1).optional(),
        migrations_dir: z.string().optional(),
      })
      .loose(),
  ),
  kv_namespaces: z.array(z.object({ binding: z.string().min(1), id: z.string().min(1).optional() }).loose()),
});

const rawConfigSchema = z.object({ env: z.record(z.string(), z.unknown()).optional() }).loose();

/**
 * The name wrangler 4.156.2 gives a resource it provisions for a binding without a name
 * (`autoProvisionedResourceName` in its deploy helpers: `<worker>-<binding, lower case, _ as ->`).
 */
export const provisionedName = (workerName: string, binding: string) => `${workerName}-${binding.toLowerCase().replaceAll("_", "-")}`;

/** The [env.*] names wrangler.toml declares. */
export function declaredEnvironments(configPath: string): string[] {
  const { rawConfig } = experimental_readRawConfig({ config: configPath });
  return Object.keys(rawConfigSchema.parse(rawConfig).env ?? {});
}

export function readDeployEnvironment(configPath: string, env: string): DeployEnvironment {
  const config = environmentSchema.parse(unstable_readConfig({ config: configPath, env }));
  const queues = new Set<string>();
  for (const producer of config.queues.producers) queues.add(producer.queue);
  for (const consumer of config.queues.consumers) {
    queues.add(consumer.queue);
    if (consumer.dead_letter_queue) queues.add(consumer.dead_letter_queue);
  }
  const d1 = config.d1_databases.map((database): D1Need => {
    // wrangler would provision `<worker>-<binding>` for a binding with neither; name it explicitly instead.
    const name = database.database_name ?? provisionedName(config.name, database.binding);
    return {
      binding: database.binding,
      name,
      id: database.database_id ?? null,
      migrations: Boolean(database.migrations_dir),
      // wrangler matches this argument against database_name or binding only.
      migrationsTarget: database.database_name ?? database.binding,
    };
  });
  const kv = config.kv_namespaces.map((namespace): KvNeed => ({ binding: namespace.binding, id: namespace.id ?? null, provisionedTitle: provisionedName(config.name, namespace.binding) }));
  return { env, workerName: config.name, queues: [...queues], d1, kv };
}
