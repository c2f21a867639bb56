// The alert webhook: where alerts leave through a channel outside the Swarm (a chat's incoming
// webhook or a paging service), since the Rocket.Chat alert room runs on the Swarm it reports on.
// Optional: unset, alerts are logged and recorded (the status page lists them) and nothing is
// posted. https only, except to a loopback address (local fakes).
import { z } from "zod";
import { defineCapability } from "../config/capability";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

export const alertWebhookConfig = defineCapability({
  name: "alert webhook",
  variables: {
    ALERT_WEBHOOK_URL: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
      .refine((value) => new URL(value).protocol === "https:" || LOOPBACK.has(new URL(value).hostname), { error: "must be an https URL (http only to a loopback address)" }),
  },
  build: (values) => ({ url: values.ALERT_WEBHOOK_URL }),
});
