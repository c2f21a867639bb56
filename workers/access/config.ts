// Cloudflare Access in front of the operators (the admin pages and the secrets operator API), a
// capability of its own: ACCESS_TEAM_DOMAIN and ACCESS_AUD both set (Access enforced: only a valid
// Access identity operates on secrets), or neither (local development: ADMIN_TOKEN opens the
// operator pages). One without the other answers 503 naming the missing variable wherever an
// operator is checked: a typo must never fall back to the token login. /healthz reports an
// installation without Access as degraded, so a production Worker left without it is visible.
import { z } from "zod";
import { ConfigProblem, defineCapability } from "../config/capability";
import type { AccessSettings } from "./access-jwt";

/** Plain http only for a team domain on this machine (the tests' fake); Cloudflare's is https. */
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

const teamDomain = z
  .string()
  .refine(
    (raw) => {
      try {
        const url = new URL(raw);
        return url.search === "" && url.hash === "" && (url.protocol === "https:" || (url.protocol === "http:" && LOCAL_HOSTS.has(url.hostname)));
      } catch {
        return false;
      }
    },
    { error: "must be the team domain as a full https URL, e.g. https://<team>.cloudflareaccess.com" },
  )
  // Access's `iss` claim is the team domain without a trailing slash.
  .transform((raw) => raw.replace(/\/+$/, ""));

// The dashboard's "Application Audience (AUD) Tag": 64 lower-case hex characters, as in the `aud`
// of Cloudflare's application-token example (checked 2026-12-06).
const audience = z.string().regex(/^[0-9a-f]{64}$/, { error: "must be the application's Audience (AUD) tag: 64 lower-case hex characters" });

export type AccessMode = { enforced: true; settings: AccessSettings } | { enforced: false };

export const accessConfig = defineCapability({
  name: "Cloudflare Access",
  variables: { ACCESS_TEAM_DOMAIN: teamDomain.optional(), ACCESS_AUD: audience.optional() },
  build: (values): AccessMode => {
    const { ACCESS_TEAM_DOMAIN: domain, ACCESS_AUD: aud } = values;
    if (domain === undefined && aud === undefined) return { enforced: false };
    if (aud === undefined) throw new ConfigProblem("ACCESS_AUD is not set (ACCESS_TEAM_DOMAIN is: set both, or neither for local development)");
    if (domain === undefined) throw new ConfigProblem("ACCESS_TEAM_DOMAIN is not set (ACCESS_AUD is: set both, or neither for local development)");
    return { enforced: true, settings: { teamDomain: domain, audience: aud } };
  },
  degradation: async (mode) =>
    mode.enforced ? [] : ["ACCESS_TEAM_DOMAIN and ACCESS_AUD are not set: ADMIN_TOKEN opens the operator pages and secrets operations (local development only)"],
});
