// The pieces of `infra` that keep the cluster safe to operate, one at a time: the one quoting
// helper (every value a remote shell reads is one word, whatever it holds, and every command in
// infra/ is built with it), which stale Swarm nodes apply may take out (swarmkit's quorum rule),
// the certificate check before deploy, the backup check before `destroy --delete-volumes`,
// Cloudflare's ranges, network errors in words, and the progress lines of long waits.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BACKUP_MAX_AGE_MS, recentDoneBackup } from "../../infra/backup-check.ts";
import { parseIpv6Cidr } from "../../infra/cidr.ts";
import { ageInDays, parseRangeList, readCloudflareRanges, STALE_AFTER_DAYS } from "../../infra/cloudflare-ips.ts";
import { parseEnvironment } from "../../infra/config.ts";
import { routedHosts } from "../../infra/deploy.ts";
import { describeNetworkError, networkCause } from "../../infra/network-error.ts";
import { planHeader } from "../../infra/plan.ts";
import { Progress, progress } from "../../infra/progress.ts";
import { quoted, raw, sh, shellWord } from "../../infra/shell.ts";
import { memberOf, staleNodePlan, SWARM_JOIN_COMMAND, type SwarmNode } from "../../infra/swarm.ts";
import { checkCertificatePair, covers } from "../../infra/tls.ts";
import { REPOSITORY_ROOT, selfSignedCertificate } from "./support/infra.ts";

/** What a POSIX shell makes of `command`: its words, each printed with a NUL after it. */
const wordsOf = (command: string) => {
  const result = spawnSync("sh", ["-c", `printf '%s\\0' ${command}`], { encoding: "utf8" });
  expect(result.status).toBe(0);
  return result.stdout.split("\0").slice(0, -1);
};

describe("sh and shellWord: one word per value, whatever it holds", () => {
  const nasty = ["/mnt/data/x;$(touch /tmp/pwned)", "a b", "it's", "`reboot`", "$HOME", "x\ny", "", "--flag=1", "*", "a'b\"c\\d", "10.0.0.0/8"];

  it.each(nasty)("%j reaches the shell as itself", (value) => {
    expect(wordsOf(shellWord(value))).toEqual([value]);
    expect(wordsOf(quoted(value))).toEqual([value]);
  });

  it("quotes only what needs it, and each item of an array as its own word", () => {
    expect(sh`docker node rm ${"abc123"}`).toBe("docker node rm abc123");
    expect(sh`docker swarm init --advertise-addr ${"10.42.1.2"} --default-addr-pool ${"10.128.0.0/12"}`).toBe("docker swarm init --advertise-addr 10.42.1.2 --default-addr-pool 10.128.0.0/12");
    expect(sh`mkdir -p ${["/mnt/data/a", "/mnt/data/b c"]}`).toBe("mkdir -p /mnt/data/a '/mnt/data/b c'");
    expect(wordsOf(sh`${["one", "two words", "it's"]}`)).toEqual(["one", "two words", "it's"]);
    expect(sh`docker stack services ${"core"} --format ${raw("'{{json .}}'")}`).toBe("docker stack services core --format '{{json .}}'");
  });

  it("builds the join command with no place for the token", () => {
    expect(SWARM_JOIN_COMMAND).not.toMatch(/token/i);
    expect(wordsOf(SWARM_JOIN_COMMAND.replace(/^curl /, ""))).toContain("Content-Type: application/json");
  });
});

describe("every remote command is built with sh", () => {
  /** Calls that hand the SSH program a bare template or a concatenation, and command constants that are bare templates. */
  const unquoted = (source: string) => [
    ...[...source.matchAll(/\bssh\.(?:run|check)\([^,]*,\s*(?:`|(["'])[^"'\n]*\1\s*\+)/g)].map((match) => match[0]),
    ...[...source.matchAll(/_COMMAND\s*=\s*`/g)].map((match) => match[0]),
  ];

  it("finds a command built by interpolation or concatenation (the check can fail)", () => {
    expect(unquoted("await ssh.run(node.publicIp, `mkdir -p ${dirs}`);")).toHaveLength(1);
    expect(unquoted('await context.ssh.check(ip, "docker secret rm " + name);')).toHaveLength(1);
    expect(unquoted("export const JOIN_COMMAND = `docker swarm join --token ${token}`;")).toHaveLength(1);
    expect(unquoted("await ssh.check(ip, sh`mkdir -p ${dirs}`); await ssh.run(ip, \"cloud-init status\"); const C_COMMAND = sh`x`;")).toEqual([]);
  });

  it("in every file of infra/", () => {
    const directory = join(REPOSITORY_ROOT, "infra");
    const files = readdirSync(directory).filter((file) => file.endsWith(".ts"));
    const sources = files.map((file) => ({ file, source: readFileSync(join(directory, file), "utf8") }));
    // The files still send commands (a sanity check on the pattern itself).
    expect(sources.reduce((count, { source }) => count + (source.match(/\bssh\.(?:run|check)\(/g)?.length ?? 0), 0)).toBeGreaterThan(20);
    expect(sources.flatMap(({ file, source }) => unquoted(source).map((call) => `${file}: ${call}`))).toEqual([]);
  });
});

describe("stale Swarm nodes: what apply may take out", () => {
  const node = (id: string, Status: string, ManagerStatus: string, Hostname = `host-${id}`): SwarmNode => ({ ID: id, Hostname, Status, Availability: "Active", ManagerStatus });

  it("demotes and removes a down manager when the others keep a quorum, and removes a down worker", () => {
    const members = [node("a", "Ready", "Leader"), node("b", "Ready", "Reachable"), node("c", "Ready", "Reachable"), node("old", "Down", "Unreachable"), node("w", "Down", "")];
    expect(staleNodePlan(members, new Set(["a", "b", "c"])).map(({ member, action }) => [member.ID, action])).toEqual([
      ["old", "demote-and-remove"],
      ["w", "remove"],
    ]);
  });

  it("keeps a node that is up, and says why", () => {
    const [decision] = staleNodePlan([node("a", "Ready", "Leader"), node("x", "Ready", "Reachable")], new Set(["a"]));
    expect(decision).toMatchObject({ action: "keep", reason: expect.stringContaining("it is up (a manager) but no server of this environment: drain it") });
  });

  it("keeps a down manager when demoting it would leave the reachable managers short of a quorum", () => {
    // Five managers, two of them reachable: taking one of the three down ones out leaves 2 of 4 others reachable, a quorum needs 3.
    const members = [node("a", "Ready", "Leader"), node("b", "Ready", "Reachable"), node("c", "Down", "Unreachable"), node("d", "Down", "Unreachable"), node("e", "Down", "Unreachable")];
    const plan = staleNodePlan(members, new Set(["a", "b", "c"]));
    expect(plan.map(({ member, action }) => [member.ID, action])).toEqual([
      ["d", "keep"],
      ["e", "keep"],
    ]);
    expect(plan[0]!.reason).toBe("it is a down manager, but only 2 of the 4 other managers are reachable and a quorum needs 3: bring a manager back first");
  });

  it("tells a replaced server's old node from its successor by the id the node reports, even before the successor is Ready", () => {
    const server = { node: 2, name: "edge-ops-x-2", serverId: 12, publicIp: "198.18.0.2", privateIp: "10.42.1.3" };
    const members = [node("a", "Ready", "Leader"), node("old", "Down", "Unreachable", server.name), node("new", "Unknown", "Reachable", server.name), node("c", "Ready", "Reachable")];
    expect(memberOf(members, server, "new")?.ID).toBe("new");
    const plan = staleNodePlan(members, new Set(["a", "new", "c"]));
    expect(plan.map(({ member, action }) => [member.ID, action])).toEqual([["old", "demote-and-remove"]]);
    // By name alone, the old node would have been taken for the new one, and the new one demoted.
    expect(memberOf(members, server)?.ID).toBe("old");
    expect(memberOf(members, server, "gone")?.ID).toBe("old");
  });

  it("counts each demotion: the second of two stale managers is checked against the smaller cluster", () => {
    const members = [node("a", "Ready", "Leader"), node("b", "Ready", "Reachable"), node("c", "Ready", "Reachable"), node("x", "Down", "Unreachable"), node("y", "Down", "Unreachable")];
    expect(staleNodePlan(members, new Set(["a", "b", "c"])).map(({ action }) => action)).toEqual(["demote-and-remove", "demote-and-remove"]);
  });
});

describe("the certificate every Traefik serves", () => {
  const pair = selfSignedCertificate(["*.example.com", "example.com"], 90);
  const other = selfSignedCertificate(["other.example.net"], 90);
  const now = new Date();

  it("accepts a certificate and its key, and says what it covers and until when", () => {
    const { summary, notes } = checkCertificatePair(pair.certificate, pair.privateKey, now, ["chat.example.com", "example.com"]);
    expect(summary.names).toEqual(["*.example.com", "example.com"]);
    expect(summary.validTo.getTime()).toBeGreaterThan(now.getTime() + 80 * 86_400_000);
    expect(notes).toEqual([]);
  });

  it("refuses a key of another certificate, something that is no certificate, and an expired one, naming the secret and never its content", () => {
    const refusals = [
      () => checkCertificatePair(pair.certificate, other.privateKey, now, []),
      () => checkCertificatePair("not a certificate", pair.privateKey, now, []),
      () => checkCertificatePair(pair.certificate, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", now, []),
      () => checkCertificatePair(pair.certificate, pair.privateKey, new Date(now.getTime() + 400 * 86_400_000), []),
    ];
    const messages = refusals.map((refusal) => {
      try {
        refusal();
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error("accepted");
    });
    expect(messages[0]).toBe("docker secret tls_private_key is not the private key of the certificate in tls_certificate");
    expect(messages[1]).toContain("docker secret tls_certificate holds no PEM certificate");
    expect(messages[2]).toContain("docker secret tls_private_key is not a PEM private key");
    expect(messages[3]).toMatch(/^docker secret tls_certificate: the certificate expired on \d{4}-\d{2}-\d{2}$/);
    for (const message of messages) expect(message).not.toContain(pair.privateKey.split("\n")[1]!);
  });

  it("warns when it does not cover a routed host, or ends soon", () => {
    const { notes } = checkCertificatePair(pair.certificate, pair.privateKey, new Date(now.getTime() + 80 * 86_400_000), ["chat.example.com", "a.b.example.com", "example.org"]);
    expect(notes[0]).toMatch(/^! tls_certificate expires in \d+ days/);
    expect(notes[1]).toBe("! tls_certificate does not cover a.b.example.com, example.org (it names *.example.com, example.com): Cloudflare's Full (strict) refuses those hosts");
  });

  it("matches a wildcard to one label only, and finds the routed hosts in rendered stacks", () => {
    expect(covers(["*.example.com"], "chat.example.com")).toBe(true);
    expect(covers(["*.example.com"], "example.com")).toBe(false);
    expect(covers(["*.example.com"], "a.b.example.com")).toBe(false);
    expect(covers(["Example.com"], "example.COM")).toBe(true);
    expect(routedHosts(['rule: "Host(`chat.example.com`)"', 'a: "Host(`sso.example.com`)"\nb: "Host(`chat.example.com`)"'])).toEqual(["chat.example.com", "sso.example.com"]);
  });
});

describe("a recent backup before the data volumes go", () => {
  const now = new Date("2026-12-06T12:00:00Z");
  const run = (id: string, status: string, finishedAt: string | null, kind = "backup") => ({ id, kind, status, createdAt: "2026-12-06T00:00:00Z", finishedAt });
  const worker = (status: number, body: unknown) => async (_url: string | URL | Request, init?: RequestInit) => {
    expect(new Headers(init?.headers).get("authorization")).toBe("Bearer t0ken");
    return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  };
  const check = (fetcher: typeof fetch) => recentDoneBackup({ workerUrl: "https://edge.example.com/", token: "t0ken", now, fetcher });

  it("takes a backup that ended done within the last day; not a restore test, not an older one", async () => {
    const ok = await check(worker(200, { items: [run("r3", "running", null), run("r2", "done", "2026-12-06T03:00:00Z"), run("r1", "done", "2026-12-05T01:00:00Z")] }) as typeof fetch);
    expect(ok).toMatchObject({ ok: true, run: { id: "r2" } });
    const restoreTest = await check(worker(200, { items: [run("t1", "done", "2026-12-06T10:00:00Z", "restore-test")] }) as typeof fetch);
    expect(restoreTest).toEqual({ ok: false, reason: "no backup run ended done in the last 24 h (none ended done among the last 50 runs)" });
    const old = await check(worker(200, { items: [run("r1", "done", new Date(now.getTime() - BACKUP_MAX_AGE_MS - 60_000).toISOString()), run("r0", "partial", "2026-12-06T11:00:00Z")] }) as typeof fetch);
    expect(old).toEqual({ ok: false, reason: "no backup run ended done in the last 24 h (the last one ending done was r1, 24 h ago; the newest run, r1, is done)" });
  });

  it("names a refused token, an unexpected answer and a network failure", async () => {
    expect(await check(worker(401, { error: "unauthorized" }) as typeof fetch)).toEqual({ ok: false, reason: "the Worker at edge.example.com refused INFRA_ADMIN_TOKEN (HTTP 401): set it to the Worker's ADMIN_TOKEN" });
    expect(await check(worker(200, { runs: [] }) as typeof fetch)).toMatchObject({ ok: false, reason: expect.stringContaining("something that is no list of runs") });
    const refused = async () => {
      throw new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
    };
    expect(await check(refused as typeof fetch)).toEqual({ ok: false, reason: "the Worker's backups could not be read: cannot reach edge.example.com: connection refused (ECONNREFUSED)" });
  });
});

describe("Cloudflare's ranges", () => {
  it("ship in infra/cloudflare-ips.json with their sources and date", () => {
    const ranges = readCloudflareRanges();
    expect(ranges.sources).toEqual({ ipv4: "https://www.cloudflare.com/ips-v4", ipv6: "https://www.cloudflare.com/ips-v6" });
    expect(ranges.ipv4.length).toBeGreaterThanOrEqual(10);
    expect(ranges.ipv6.length).toBeGreaterThanOrEqual(5);
    expect(ranges.ipv6.every((range) => parseIpv6Cidr(range) !== null)).toBe(true);
    expect(ageInDays(ranges, new Date(`${ranges.date}T12:00:00Z`))).toBe(0);
    expect(ageInDays(ranges, new Date(Date.parse(`${ranges.date}T00:00:00Z`) + (STALE_AFTER_DAYS + 1) * 86_400_000))).toBeGreaterThan(STALE_AFTER_DAYS);
  });

  it("are what the plan lists for 80/443, with the file's date, and a reminder once they are old", () => {
    const ranges = { ...readCloudflareRanges(), date: "2026-06-01" };
    const document = { location: "nbg1", server_type: "cx23", nodes: 3, network: { ip_range: "10.42.0.0/16", subnet: "10.42.1.0/24" }, firewall: { ssh_sources: ["198.51.100.0/24"] }, volume: { size_gb: 20 } };
    const environment = parseEnvironment("check", document, "check.yaml", { cloudflare: ranges });
    expect(environment.firewall.web_sources).toEqual([...ranges.ipv4, ...ranges.ipv6]);
    const fresh = planHeader(environment, new Date("2026-06-30T00:00:00Z"));
    expect(fresh).toEqual([`Web (80/443) open to Cloudflare's ${ranges.ipv4.length + ranges.ipv6.length} ranges only (infra/cloudflare-ips.json, 2026-06-01): ${[...ranges.ipv4, ...ranges.ipv6].join(", ")}.`]);
    const old = planHeader(environment, new Date("2026-12-06T00:00:00Z"));
    expect(old[1]).toBe("! Cloudflare's ranges are 188 days old: npm run infra -- cloudflare-ips fetches them again.");
    // CIDRs in the file instead of `cloudflare`: listed as they are, never checked for age.
    const own = parseEnvironment("check", { ...document, firewall: { ...document.firewall, web_sources: ["203.0.113.0/24"] } }, "check.yaml");
    expect(planHeader(own, new Date("2030-01-01T00:00:00Z"))).toEqual(["Web (80/443) open to: 203.0.113.0/24 (firewall.web_sources)."]);
  });

  it("are read from a list of CIDRs only: anything else, an empty answer or a range wider than Cloudflare's refuses the whole list", () => {
    expect(parseRangeList("173.245.48.0/20\r\n103.21.244.0/22\n\n", "ipv4", "u")).toEqual(["173.245.48.0/20", "103.21.244.0/22"]);
    expect(parseRangeList("2400:cb00::/32\n2a06:98c0::/29\n", "ipv6", "u")).toEqual(["2400:cb00::/32", "2a06:98c0::/29"]);
    expect(() => parseRangeList("", "ipv4", "u")).toThrow("u answered no ipv4 range");
    expect(() => parseRangeList("173.245.48.0/20\n<html>", "ipv4", "u")).toThrow('u answered 1 line that is no ipv4 range (first: "<html>")');
    expect(() => parseRangeList("0.0.0.0/0", "ipv4", "u")).toThrow("no ipv4 range");
    expect(() => parseRangeList("::/0", "ipv6", "u")).toThrow("no ipv6 range");
    expect(() => parseRangeList("2400:cb00::/32", "ipv4", "u")).toThrow("no ipv4 range");
  });
});

describe("network errors in words", () => {
  it("names the host and the cause, never 'fetch failed'", () => {
    const failed = (code: string) => new TypeError("fetch failed", { cause: Object.assign(new Error("x"), { code }) });
    expect(describeNetworkError("https://api.hetzner.cloud/v1/servers", failed("ENOTFOUND"))).toBe("cannot reach api.hetzner.cloud: host name not found (DNS) (ENOTFOUND)");
    expect(networkCause(failed("CERT_HAS_EXPIRED"))).toBe("TLS certificate expired (CERT_HAS_EXPIRED)");
    expect(networkCause(failed("EWHATEVER"))).toBe("network error (EWHATEVER)");
    expect(networkCause(new DOMException("The operation was aborted due to timeout", "TimeoutError"))).toBe("no answer within the time limit");
  });
});

describe("progress of a long wait", () => {
  it("prints one line per interval however often it is polled, with what is awaited and for how long", () => {
    let clock = 1_000_000;
    const lines: string[] = [];
    const report = new Progress({ log: (line) => lines.push(line), everyMs: 5_000, now: () => clock }, "waiting for Hetzner");
    // Polled every second for 12 s: lines at 5 s and 10 s only.
    for (let second = 1; second <= 12; second++) {
      clock += 1_000;
      report.tick(`create_server ${second * 8}%`);
    }
    expect(lines).toEqual(["… waiting for Hetzner: create_server 40% (5 s)", "… waiting for Hetzner: create_server 80% (10 s)"]);
  });

  it("prints at every poll with an interval of 0, and nothing without options", () => {
    const lines: string[] = [];
    const everyPoll = new Progress({ log: (line) => lines.push(line), everyMs: 0, now: () => 0 }, "waiting");
    everyPoll.tick("a");
    everyPoll.tick("b");
    expect(lines).toEqual(["… waiting: a (0 s)", "… waiting: b (0 s)"]);
    expect(() => progress(undefined, "quiet").tick("x")).not.toThrow();
  });
});
