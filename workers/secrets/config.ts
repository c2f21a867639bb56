// The secrets store needs only its own variables: the master key (current, plus earlier ones still
// accepted for reading while values are re-wrapped) and the sync CLI's token. The KV binding and D1
// come from wrangler.toml. The operator pages' session and CSRF keys are derived from the current
// master key (HKDF): no variable of their own, and a master-key rotation ends every session.
import { z } from "zod";
import { ConfigProblem, defineCapability } from "../config/capability";
import { secretString } from "../config/variables";
import { deriveSessionKeys } from "../access/admin-session";
import { fromBase64, importMasterKey, type MasterKey } from "./crypto";

const base64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, { error: "must be base64 of 32 random bytes (openssl rand -base64 32)" });

export const secretsConfig = defineCapability({
  name: "secrets store",
  variables: {
    SECRETS_MASTER_KEY: base64,
    SECRETS_SYNC_TOKEN: secretString(16),
    SECRETS_PREVIOUS_MASTER_KEYS: z.string().optional(),
  },
  build: async (values) => {
    const current = await importMasterKey(values.SECRETS_MASTER_KEY).catch(() => {
      throw new ConfigProblem("SECRETS_MASTER_KEY: must be base64 of exactly 32 bytes");
    });
    const previous: MasterKey[] = [];
    for (const raw of (values.SECRETS_PREVIOUS_MASTER_KEYS ?? "").split(",").map((part) => part.trim()).filter(Boolean)) {
      previous.push(
        await importMasterKey(raw).catch(() => {
          throw new ConfigProblem("SECRETS_PREVIOUS_MASTER_KEYS: every entry must be base64 of exactly 32 bytes");
        }),
      );
    }
    return {
      current,
      keys: new Map([current, ...previous].map((key) => [key.kid, key])),
      syncToken: values.SECRETS_SYNC_TOKEN,
      sessionKeys: await deriveSessionKeys(fromBase64(values.SECRETS_MASTER_KEY)),
    };
  },
});
export type SecretsConfig = Awaited<ReturnType<typeof secretsConfig.load>>;
