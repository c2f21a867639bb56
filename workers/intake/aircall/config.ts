import { defineCapability } from "../../config/capability";
import { commaList, secretString } from "../../config/variables";

/** Aircall intake needs only the webhook token(s) Aircall puts in each body. */
export const aircallIntakeConfig = defineCapability({
  name: "aircall intake",
  variables: { AIRCALL_WEBHOOK_TOKENS: commaList(secretString(8)) },
  build: (values) => ({ tokens: values.AIRCALL_WEBHOOK_TOKENS }),
});
