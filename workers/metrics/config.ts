// METRICS_TOKEN: a read-only bearer for Prometheus. It opens GET /api/metrics and nothing else
// (ADMIN_TOKEN opens it too). Optional: unset, only ADMIN_TOKEN scrapes; set but too short, it is
// never accepted and a scrape that does not bring ADMIN_TOKEN gets 503 naming it.
import { defineCapability } from "../config/capability";
import { secretString } from "../config/variables";

export const metricsConfig = defineCapability({
  name: "metrics",
  variables: { METRICS_TOKEN: secretString(32) },
  build: (values) => ({ token: values.METRICS_TOKEN }),
});
