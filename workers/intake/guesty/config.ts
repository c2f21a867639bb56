import { importSigningSecret } from "../../auth/standard-webhooks";
import { ConfigProblem, defineCapability } from "../../config/capability";
import { commaList } from "../../config/variables";
import { z } from "zod";

const svixSecret = z.string().regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, { error: "entries must look like whsec_<base64>" });

/** Guesty intake needs only the Svix signing secret(s), imported once as HMAC keys. */
export const guestyIntakeConfig = defineCapability({
  name: "guesty intake",
  variables: { GUESTY_WEBHOOK_SECRETS: commaList(svixSecret) },
  build: async (values) => {
    const keys = await Promise.all(
      values.GUESTY_WEBHOOK_SECRETS.map(async (secret, index) => {
        const key = await importSigningSecret(secret);
        if (!key) throw new ConfigProblem(`GUESTY_WEBHOOK_SECRETS: entry ${index + 1} does not decode to a usable key`);
        return key;
      }),
    );
    return { keys };
  },
});
