// Cloudflare's published address ranges, kept in infra/cloudflare-ips.json: the sources of the
// firewall's 80/443 rules for an origin behind Cloudflare (`firewall.web_sources: cloudflare`, the
// default). `npm run infra -- cloudflare-ips` fetches the two lists again and rewrites the file;
// the next plan shows the firewall update.
//
// Checked 2026-12-06: https://www.cloudflare.com/ips-v4 and /ips-v6 answer text/plain, one CIDR a
// line (15 IPv4, 7 IPv6 ranges in the copies seen; the widest are /13 and /29).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { parseIpv4Cidr, parseIpv6Cidr } from "./cidr.ts";
import { describeNetworkError } from "./network-error.ts";

export const CLOUDFLARE_IPS_BASE = "https://www.cloudflare.com";
export const DEFAULT_CLOUDFLARE_IPS_FILE = join(resolve(dirname(fileURLToPath(import.meta.url))), "cloudflare-ips.json");

const ipv4 = z.string().refine((value) => (parseIpv4Cidr(value)?.prefix ?? -1) >= 8, "must be an IPv4 CIDR no wider than /8");
const ipv6 = z.string().refine((value) => (parseIpv6Cidr(value)?.prefix ?? -1) >= 16, "must be an IPv6 CIDR no wider than /16");

export const cloudflareRangesSchema = z
  .object({
    /** Where the lists come from. */
    sources: z.object({ ipv4: z.string().url(), ipv6: z.string().url() }).strict(),
    /** When they were last read (YYYY-MM-DD). */
    date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    note: z.string().optional(),
    ipv4: z.array(ipv4).min(1),
    ipv6: z.array(ipv6).min(1),
  })
  .strict();
export type CloudflareRanges = z.infer<typeof cloudflareRangesSchema>;

export class CloudflareRangesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CloudflareRangesError";
  }
}

/** The ranges in `path` (default: the repository's infra/cloudflare-ips.json), validated. */
export function readCloudflareRanges(path = DEFAULT_CLOUDFLARE_IPS_FILE): CloudflareRanges & { file: string } {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, "utf8")) as unknown;
  } catch (error) {
    throw new CloudflareRangesError(`${path}: cannot read Cloudflare's ranges (${(error as NodeJS.ErrnoException).code ?? "not JSON"}): run npm run infra -- cloudflare-ips`);
  }
  const parsed = cloudflareRangesSchema.safeParse(document);
  if (!parsed.success) throw new CloudflareRangesError(`${path} is invalid: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  return { ...parsed.data, file: path };
}

/** Days since the file's date, for the plan's reminder. */
export const ageInDays = (ranges: Pick<CloudflareRanges, "date">, now: Date) => Math.floor((now.getTime() - Date.parse(`${ranges.date}T00:00:00Z`)) / 86_400_000);

/** After this many days the plan reminds the operator to refresh the file. */
export const STALE_AFTER_DAYS = 90;

/** One list as Cloudflare serves it: a CIDR a line; anything else refuses the whole answer. */
export function parseRangeList(text: string, family: "ipv4" | "ipv6", source: string): string[] {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
  const check = family === "ipv4" ? ipv4 : ipv6;
  const bad = lines.filter((line) => !check.safeParse(line).success);
  if (lines.length === 0) throw new CloudflareRangesError(`${source} answered no ${family} range: the file is left as it is`);
  if (bad.length > 0) throw new CloudflareRangesError(`${source} answered ${bad.length} line${bad.length > 1 ? "s" : ""} that ${bad.length > 1 ? "are" : "is"} no ${family} range (first: ${JSON.stringify(bad[0]!.slice(0, 60))}): the file is left as it is`);
  return [...new Set(lines)];
}

async function fetchList(url: string, family: "ipv4" | "ipv6", fetcher: typeof fetch): Promise<string[]> {
  let response: Response;
  try {
    response = await fetcher(url, { headers: { accept: "text/plain" }, signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new CloudflareRangesError(`cannot fetch Cloudflare's ${family} ranges: ${describeNetworkError(url, error)}`);
  }
  if (!response.ok) throw new CloudflareRangesError(`${url} answered HTTP ${response.status}: the file is left as it is`);
  return parseRangeList(await response.text(), family, url);
}

export type RefreshResult = { file: string; ranges: CloudflareRanges; added: string[]; removed: string[] };

/**
 * Fetches `<base>/ips-v4` and `<base>/ips-v6`, and rewrites `file` when both are valid lists
 * (never half: a failure leaves the file as it was).
 */
export async function refreshCloudflareRanges(options: { base?: string; file?: string; now: Date; fetcher?: typeof fetch }): Promise<RefreshResult> {
  const base = (options.base ?? CLOUDFLARE_IPS_BASE).replace(/\/+$/, "");
  const file = options.file ?? DEFAULT_CLOUDFLARE_IPS_FILE;
  const fetcher = options.fetcher ?? fetch;
  const sources = { ipv4: `${base}/ips-v4`, ipv6: `${base}/ips-v6` };
  const [v4, v6] = await Promise.all([fetchList(sources.ipv4, "ipv4", fetcher), fetchList(sources.ipv6, "ipv6", fetcher)]);
  let before: string[] = [];
  try {
    const previous = readCloudflareRanges(file);
    before = [...previous.ipv4, ...previous.ipv6];
  } catch {
    // No valid file yet: everything is new.
  }
  const ranges: CloudflareRanges = { sources, date: options.now.toISOString().slice(0, 10), ipv4: v4, ipv6: v6 };
  writeFileSync(file, `${JSON.stringify(ranges, null, 2)}\n`);
  const after = [...v4, ...v6];
  return { file, ranges, added: after.filter((range) => !before.includes(range)), removed: before.filter((range) => !after.includes(range)) };
}

/** `infra/cloudflare-ips.json` relative to `root` when inside it, for messages. */
export const shownPath = (root: string, file: string) => (relative(root, file).startsWith("..") ? file : relative(root, file));
