// Who is operating: the one check in front of every operator page and every secrets operator API
// call (list, reveal, app tokens, rollback, re-wrap).
//
// - Cloudflare Access configured (ACCESS_TEAM_DOMAIN + ACCESS_AUD): a valid Access JWT of a person
//   (`Cf-Access-Jwt-Assertion` with an `email`), nothing else. ADMIN_TOKEN, a session cookie or a
//   service token's JWT (it carries no email) is refused with 403 naming the reason.
// - Half of it configured: 503 naming the missing variable (thrown by the capability), never a
//   fallback.
// - Neither (local development): `Authorization: Bearer <ADMIN_TOKEN>`, or, where the caller
//   allows it (the pages), the session of the token login.
// Machine endpoints (events, search, documents, backups) do not come here: ADMIN_TOKEN opens them
// (auth/admin-bearer.ts).
// An identity-provider login's application token carries `email`; a service token's carries its
// `common_name` and no email (Cloudflare's "Application token" page,
// developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/application-token/, read
// 2026-12-06), so operators are people and the audit log names them.
import { adminApiConfig } from "../auth/admin-token";
import { constantTimeEquals } from "../auth/constant-time";
import { AccessDenied, verifyAccessJwt } from "./access-jwt";
import type { AdminSession } from "./admin-session";
import { accessConfig } from "./config";
import { bearerToken } from "../auth/bearer";

export const ACCESS_JWT_HEADER = "cf-access-jwt-assertion";

export type Operator = {
  /** What the audit log records: the Access identity's email, or "admin-token" / "admin-session". */
  actor: string;
  via: "access" | "admin-token" | "admin-session";
  /** What this operator's CSRF tokens are bound to. */
  binding: string;
  /** The token login's session, when that is how the operator came in. */
  session: AdminSession | null;
};

export type OperatorCheck =
  | { ok: true; operator: Operator }
  /** `login`: nothing was presented and the token login may help (local development only). */
  | { ok: false; status: 401 | 403; reason: string; login: boolean };


/**
 * The operator behind a request, or why there is none. Throws the capability's 503 when Access is
 * half configured (or, without Access, when ADMIN_TOKEN is unset), and a 503 when Access's keys
 * cannot be had.
 */
export async function identifyOperator(env: Env, headers: Headers, options: { session?: () => Promise<AdminSession | null> } = {}): Promise<OperatorCheck> {
  const access = await accessConfig.load(env);
  if (access.enforced) {
    const assertion = headers.get(ACCESS_JWT_HEADER);
    if (!assertion) {
      const reason = bearerToken(headers.get("authorization"))
        ? "a Cloudflare Access identity is required: bearer tokens (ADMIN_TOKEN) are not accepted for operator actions while Access is configured"
        : "a Cloudflare Access identity is required (no Cf-Access-Jwt-Assertion): sign in through Access";
      return { ok: false, status: 403, reason, login: false };
    }
    try {
      const identity = await verifyAccessJwt(assertion, access.settings);
      if (!identity.email) return { ok: false, status: 403, reason: "the Access identity has no email (a service token): operators are people signed in through Access", login: false };
      return { ok: true, operator: { actor: identity.email, via: "access", binding: `access:${identity.email}`, session: null } };
    } catch (error) {
      if (error instanceof AccessDenied) return { ok: false, status: 403, reason: `Cloudflare Access token refused: ${error.reason}`, login: false };
      throw error;
    }
  }
  const { token: adminToken } = await adminApiConfig.load(env);
  const bearer = bearerToken(headers.get("authorization"));
  if (bearer !== null) {
    if (await constantTimeEquals(bearer, adminToken)) return { ok: true, operator: { actor: "admin-token", via: "admin-token", binding: "admin-token", session: null } };
    return { ok: false, status: 401, reason: "unauthorized", login: false };
  }
  const session = options.session ? await options.session() : null;
  if (session) return { ok: true, operator: { actor: "admin-session", via: "admin-session", binding: `session:${session.id}`, session } };
  return { ok: false, status: 401, reason: "unauthorized", login: true };
}
