// The R2 credentials a runner gets: short-lived ones, scoped to the repository's bucket and
// prefix and valid until the run's deadline, when a Cloudflare API token is configured
// (R2's temp-access-credentials API); the static keys otherwise.
import { z } from "zod";

export type RunnerCredentials = { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string; AWS_SESSION_TOKEN?: string };

export class CloudflareApiError extends Error {
  constructor(readonly status: number, readonly code: number | null) {
    super(`cloudflare api answered ${status}${code === null ? "" : ` (${code})`}`);
    this.name = "CloudflareApiError";
  }
}

/** Bucket and prefix of `s3:https://<account>.r2.cloudflarestorage.com/<bucket>/<prefix>`. */
export function repositoryLocation(repository: string): { bucket: string; prefix: string } | null {
  const path = /^s3:https?:\/\/[^/]+\/(.+)$/.exec(repository)?.[1];
  if (!path) return null;
  const [bucket, ...rest] = path.split("/").filter(Boolean);
  return bucket ? { bucket, prefix: rest.join("/") } : null;
}

const responseSchema = z.object({
  success: z.literal(true),
  result: z.object({ accessKeyId: z.string(), secretAccessKey: z.string(), sessionToken: z.string() }),
});
const errorSchema = z.object({ errors: z.array(z.object({ code: z.number() }).loose()).default([]) }).loose();

export async function temporaryR2Credentials(settings: {
  apiUrl: string;
  apiToken: string;
  accountId: string;
  parentAccessKeyId: string;
  repository: string;
  ttlSeconds: number;
}): Promise<RunnerCredentials> {
  const location = repositoryLocation(settings.repository);
  if (!location) throw new CloudflareApiError(400, null);
  const response = await fetch(`${settings.apiUrl.replace(/\/+$/, "")}/accounts/${encodeURIComponent(settings.accountId)}/r2/temp-access-credentials`, {
    method: "POST",
    headers: { authorization: `Bearer ${settings.apiToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      bucket: location.bucket,
      parentAccessKeyId: settings.parentAccessKeyId,
      permission: "object-read-write",
      // R2 takes at most a week; at least a few minutes.
      ttlSeconds: Math.max(300, Math.min(604_800, Math.ceil(settings.ttlSeconds))),
      ...(location.prefix ? { prefixes: [location.prefix] } : {}),
    }),
    signal: AbortSignal.timeout(15_000),
  });
  const body: unknown = await response.json().catch(() => null);
  const parsed = responseSchema.safeParse(body);
  if (!response.ok || !parsed.success) {
    const error = errorSchema.safeParse(body);
    throw new CloudflareApiError(response.status, error.success ? error.data.errors[0]?.code ?? null : null);
  }
  return { AWS_ACCESS_KEY_ID: parsed.data.result.accessKeyId, AWS_SECRET_ACCESS_KEY: parsed.data.result.secretAccessKey, AWS_SESSION_TOKEN: parsed.data.result.sessionToken };
}
