// BACKUP_TARGETS: what a backup run saves, as configuration of the environment (a Worker secret,
// since it holds credentials), never a list in code. A JSON array of at most 20 targets, each
// one of (the contract between the Worker, the runner and the Swarm, /work/backup-contract.md §1):
//   {"name", "kind": "mongodb",  "uri"}                                   mongodump --oplog
//   {"name", "kind": "postgres", "host", "port"?, "database", "user", "password"}   pg_dump
//   {"name", "kind": "s3",       "endpoint", "buckets"?, "accessKeyId", "secretAccessKey", "region"?}
//   {"name", "kind": "path",     "host", "user"?, "port"?, "paths", "hostKey"?}     rsync over ssh
// The runner gets the list with the defaults filled in. Unknown fields are refused (a typo in an
// optional field would otherwise be silently ignored), and no message ever repeats a value.
import { z } from "zod";

/** Largest number of targets: one run, one server, one deadline. */
export const MAX_BACKUP_TARGETS = 20;

const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, { error: "must be 1-40 lowercase letters, digits or dashes, starting with a letter or digit" });
/** A private address or a host name; never starting with a dash (ssh and the dump tools would read it as an option). */
const host = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$/, { error: "must be an IP address or a host name" });
const port = (fallback: number) => z.number().int().min(1).max(65535).default(fallback);
/** One line, no control characters: these reach command lines and environment variables. */
const plain = (max: number) => z.string().min(1).max(max).regex(/^[^\u0000-\u001f\u007f]+$/, { error: "must be one line without control characters" });

const mongodb = z
  .object({ name, kind: z.literal("mongodb"), uri: plain(2048).regex(/^mongodb(\+srv)?:\/\/\S+$/, { error: "must be a mongodb:// or mongodb+srv:// URI" }) })
  .strict();
const postgres = z
  .object({ name, kind: z.literal("postgres"), host, port: port(5432), database: plain(63), user: plain(63), password: plain(1024) })
  .strict();
const s3 = z
  .object({
    name,
    kind: z.literal("s3"),
    endpoint: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    buckets: z.array(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,62}$/, { error: "must be S3 bucket names" })).min(1).max(100).optional(),
    accessKeyId: plain(256),
    secretAccessKey: plain(1024),
    region: plain(64).default("us-east-1"),
  })
  .strict();
const path = z
  .object({
    name,
    kind: z.literal("path"),
    host,
    user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: "must be a Unix user name" }).default("edge-ops-backup"),
    port: port(22),
    paths: z.array(plain(4096).regex(/^\//, { error: "must be absolute paths" })).min(1).max(50),
    hostKey: plain(16384).regex(/^(ssh-|ecdsa-|sk-)\S+ \S+/, { error: "must be a public host key (e.g. ssh-ed25519 AAAA...)" }).optional(),
  })
  .strict();

const targetSchema = z.discriminatedUnion("kind", [mongodb, postgres, s3, path], { error: 'must be "mongodb", "postgres", "s3" or "path"' });
export type BackupTarget = z.output<typeof targetSchema>;
/** A target as written into BACKUP_TARGETS, before the defaults are filled in (what `infra backup-targets` prints). */
export type BackupTargetInput = z.input<typeof targetSchema>;

const listSchema = z.array(z.unknown()).max(MAX_BACKUP_TARGETS, { error: `lists at most ${MAX_BACKUP_TARGETS} targets` });

/** What is wrong with one target, naming it (by position and name) and the field, never a value. */
function targetProblem(index: number, raw: unknown, issue: z.core.$ZodIssue): string {
  const label = typeof raw === "object" && raw !== null && typeof (raw as { name?: unknown }).name === "string" && name.safeParse((raw as { name: string }).name).success ? ` (${(raw as { name: string }).name})` : "";
  const field = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return `target ${index + 1}${label}: ${field}${issue.message}`;
}

/**
 * The variable's schema: JSON text → the targets. Problems name BACKUP_TARGETS (the capability
 * prefixes the variable) and the target; the JSON parser's own message is never used, since it
 * quotes the text, which holds credentials.
 */
export const backupTargetsVariable = z.string().transform((text, context): BackupTarget[] => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    context.addIssue({ code: "custom", message: 'must be a JSON array of targets (see README "Backups"), e.g. [{"name":"mongodb","kind":"mongodb","uri":"mongodb://…"}]' });
    return z.NEVER;
  }
  const list = listSchema.safeParse(value);
  if (!list.success) {
    context.addIssue({ code: "custom", message: Array.isArray(value) ? list.error.issues[0]!.message : "must be a JSON array of targets" });
    return z.NEVER;
  }
  const targets: BackupTarget[] = [];
  const problems: string[] = [];
  list.data.forEach((raw, index) => {
    const parsed = targetSchema.safeParse(raw);
    if (parsed.success) targets.push(parsed.data);
    else problems.push(targetProblem(index, raw, parsed.error.issues[0]!));
  });
  const seen = new Set<string>();
  for (const target of targets) {
    if (seen.has(target.name)) problems.push(`target name "${target.name}" is used twice`);
    seen.add(target.name);
  }
  if (problems.length > 0) {
    context.addIssue({ code: "custom", message: problems.slice(0, 3).join("; ") + (problems.length > 3 ? `; and ${problems.length - 3} more` : "") });
    return z.NEVER;
  }
  return targets;
});

/**
 * BACKUP_SSH_PRIVATE_KEY: an OpenSSH private key, newlines kept. `\n` escapes (a one-line value in
 * .dev.vars) become newlines, and the key ends with one: OpenSSH refuses a key file without it.
 */
export const sshPrivateKeyVariable = z
  .string()
  .transform((raw) => {
    const text = (raw.includes("\n") ? raw : raw.replaceAll("\\n", "\n")).replaceAll("\r\n", "\n").trim();
    return `${text}\n`;
  })
  .refine((key) => /^-----BEGIN [A-Z ]*PRIVATE KEY-----\n[\s\S]+\n-----END [A-Z ]*PRIVATE KEY-----\n$/.test(key), {
    error: "must be a private key in OpenSSH (or PEM) form: -----BEGIN OPENSSH PRIVATE KEY----- … -----END OPENSSH PRIVATE KEY-----",
  });
