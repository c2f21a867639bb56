// A fake of the one Cloudflare API call the backups make: R2 temporary access credentials,
// `POST /client/v4/accounts/:account/r2/temp-access-credentials` with a Bearer API token and
// `{bucket, parentAccessKeyId, permission, ttlSeconds, prefixes?}`, answering
// `{"success":true,"errors":[],"messages":[],"result":{"accessKeyId","secretAccessKey","sessionToken"}}`;
// errors as `{"success":false,"errors":[{"code","message"}]}`. GET /__fake/requests lists the
// request bodies received. Checked 2026-12-06 against Cloudflare's API reference ("Create
// Temporary Access Credentials", developers.cloudflare.com/api/resources/r2/subresources/
// temporary_credentials) and the cloudflare npm SDK 5.2.0 generated from the same OpenAPI spec:
// bucket, parentAccessKeyId, permission and ttlSeconds required; permission one of
// admin-read-write, admin-read-only, object-read-write, object-read-only; ttlSeconds at most
// 604,800; objects and prefixes optional; the result's three fields as above.
import { startFake, type RunningFake } from "./http-fake.ts";

export const FAKE_CLOUDFLARE_API_TOKEN = "fake-cloudflare-api-token-0123456789";

const PERMISSIONS = new Set(["admin-read-write", "admin-read-only", "object-read-write", "object-read-only"]);
const MAX_TTL_SECONDS = 604_800;

export async function startFakeCloudflareApi(port = 0): Promise<RunningFake> {
  const requests: unknown[] = [];
  let issued = 0;
  return startFake((request) => {
    if (request.url.pathname === "/__fake/requests") return { status: 200, body: requests };
    const match = /^\/client\/v4\/accounts\/([^/]+)\/r2\/temp-access-credentials$/.exec(request.url.pathname);
    if (!match || request.method !== "POST") return { status: 404, body: { success: false, errors: [{ code: 7003, message: "Could not route to the path" }], messages: [], result: null } };
    if (request.headers.authorization !== `Bearer ${FAKE_CLOUDFLARE_API_TOKEN}`) {
      return { status: 403, body: { success: false, errors: [{ code: 10000, message: "Authentication error" }], messages: [], result: null } };
    }
    const body = request.body as { bucket?: unknown; parentAccessKeyId?: unknown; permission?: unknown; ttlSeconds?: unknown };
    requests.push(body);
    if (typeof body?.bucket !== "string" || typeof body.parentAccessKeyId !== "string" || typeof body.permission !== "string" || typeof body.ttlSeconds !== "number") {
      return { status: 400, body: { success: false, errors: [{ code: 10001, message: "bucket, parentAccessKeyId, permission and ttlSeconds are required" }], messages: [], result: null } };
    }
    if (!PERMISSIONS.has(body.permission) || body.ttlSeconds > MAX_TTL_SECONDS) {
      return { status: 400, body: { success: false, errors: [{ code: 10001, message: `permission must be one of ${[...PERMISSIONS].join(", ")} and ttlSeconds at most ${MAX_TTL_SECONDS}` }], messages: [], result: null } };
    }
    issued += 1;
    return {
      status: 200,
      body: {
        success: true,
        errors: [],
        messages: [],
        result: { accessKeyId: `tempkey${issued}`, secretAccessKey: `tempsecret${issued}-${match[1]}`, sessionToken: `tempsession${issued}` },
      },
    };
  }, port);
}
