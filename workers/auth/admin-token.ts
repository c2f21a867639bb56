import { defineCapability } from "../config/capability";
import { secretString } from "../config/variables";

/**
 * The machine token (`ADMIN_TOKEN`): the admin API's bearer (events, search, documents, backups)
 * and, only where Cloudflare Access is not configured (local development), the operator pages.
 * Without it the API stays closed (503).
 */
export const adminApiConfig = defineCapability({
  name: "admin API",
  variables: { ADMIN_TOKEN: secretString(16) },
  build: (values) => ({ token: values.ADMIN_TOKEN }),
});
