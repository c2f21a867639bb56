import { defineCapability } from "../config/capability";
import { secretString } from "../config/variables";

/** The admin API needs only its bearer token; without it the API stays closed (503). */
export const adminApiConfig = defineCapability({
  name: "admin API",
  variables: { ADMIN_TOKEN: secretString(16) },
  build: (values) => ({ token: values.ADMIN_TOKEN }),
});
