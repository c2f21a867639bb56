// A fake of the one Cloudflare API call the backups make: R2 temporary access credentials,
// `POST /client/v4/accounts/:account/r2/temp-access-credentials` with a Bearer API token and
// `{bucket, parentAccessKeyId, permission, ttlSeconds, prefixes?}`, answering
// `{"success":true,"errors":[],"messages":[],"result":{"accessKeyId","secretAccessKey","sessionToken"}}`;
// errors as `{"success":false,"errors":[{"code","message"}]}`. GET /__fake/requests lists the
// request bodies received.
import { startFake, type RunningFake } from "./http-fake.ts";

export const FAKE_CLOUDFLARE_API_TOKEN = "fake-cloudflare-api-token-0123456789";

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
