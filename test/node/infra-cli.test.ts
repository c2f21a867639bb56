// The infra CLI end to end against the Hetzner fake and the fake SSH program (which resolves IPs to
// the fake's servers and plays Docker Swarm): plan, apply, a no-op second apply, deploy (and the
// unused secrets and configs it removes), a replaced server whose stale manager apply removes, the
// backup route (backup user, BACKUP_NETWORK_ID, backup-targets), status, destroy (data volumes
// kept unless --delete-volumes, and then only after a recent backup), and no token or secret on any
// command line of the whole lifecycle; a failure half-way through apply finished by the next
// apply (and the kept data volumes deleted with --force); two managers gone at once (a lost
// quorum, said so, nothing removed); drift (firewall rules, labels, what apply leaves to a
// person); backup-image and its pruning; the guard rails of the command line.
import { execFile, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { backupAccessScript, HOST_KEY_COMMAND } from "../../infra/backup-route.ts";
import { backupTargetsVariable } from "../../workers/backups/targets.ts";
import { readCloudflareRanges } from "../../infra/cloudflare-ips.ts";
import { loadEnvironment } from "../../infra/config.ts";
import { createFakeSshState, type FakeSshStateHandle } from "./fakes/fake-ssh-state.ts";
import { FAKE_HCLOUD_TOKEN, startFakeHetzner } from "./fakes/hetzner.ts";
import { startFake, type FakeRequest } from "./fakes/http-fake.ts";
import { ed25519PublicKey, infraWorkspace, REPOSITORY_ROOT, selfSignedCertificate, uniqueEnvironment, type InfraWorkspace } from "./support/infra.ts";

const hetzner = await startFakeHetzner({ actionMs: 30 }, 0);
afterAll(() => hetzner.close());

/** The Worker's admin API as destroy --delete-volumes reads it: GET /api/backups/runs, the runs tests set. */
const ADMIN_TOKEN = "admin-token-Xq7Lw2";
const worker = { runs: [] as unknown[], seen: [] as FakeRequest[] };
const fakeWorker = await startFake((request) => {
  worker.seen.push(request);
  if (request.headers.authorization !== `Bearer ${ADMIN_TOKEN}`) return { status: 401, body: { error: "unauthorized" } };
  if (request.method === "GET" && request.url.pathname === "/api/backups/runs") return { status: 200, body: { items: worker.runs } };
  return { status: 404, body: { error: "not found" } };
});
afterAll(() => fakeWorker.close());
const backupRun = (id: string, status: string, finishedHoursAgo: number | null) => ({
  id,
  kind: "backup",
  status,
  createdAt: new Date(Date.now() - ((finishedHoursAgo ?? 0) + 1) * 3_600_000).toISOString(),
  finishedAt: finishedHoursAgo === null ? null : new Date(Date.now() - finishedHoursAgo * 3_600_000).toISOString(),
});

const CLOUDFLARE = readCloudflareRanges();

type Logged = { method: string; path: string; query: Record<string, string | string[]>; body: unknown; at: number };

async function hetznerApi(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${hetzner.url}/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${FAKE_HCLOUD_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return response.status === 204 ? null : response.json();
}

async function requestsSince(at: number): Promise<Logged[]> {
  const response = await fetch(`${hetzner.url}/__fake/requests`);
  const requests = (await response.json()) as Logged[];
  return requests.filter((request) => request.at >= at);
}
/** The fake's clock (ms), which stamps its request log. */
async function clock(): Promise<number> {
  const response = await fetch(`${hetzner.url}/__fake/clock`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ advanceSeconds: 0 }) });
  return Date.parse(((await response.json()) as { now: string }).now);
}

async function fakeServers(selector: string): Promise<any[]> {
  const response = await fetch(`${hetzner.url}/__fake/servers?label_selector=${encodeURIComponent(selector)}`);
  return (await response.json()) as any[];
}

const mutating = (requests: Logged[]) => requests.filter((request) => request.method !== "GET");

/** A command on a node through the fake SSH program, as an operator would run it. */
function remote(ssh: FakeSshStateHandle, ip: string, command: string, stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(ssh.env.INFRA_SSH!, [`root@${ip}`, command], { env: { ...process.env, ...ssh.env } }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") reject(error);
      else resolve({ code: child.exitCode ?? 0, stdout, stderr });
    });
    child.stdin?.end(stdin);
  });
}
const S3_BACKUP_KEY = { accessKey: "backupAK7Q", secretKey: "backup-secret-K4v" };
const s3Config = (backupActions: string[]) =>
  JSON.stringify({
    identities: [
      { name: "app", credentials: [{ accessKey: "appAK2", secretKey: "app-secret-W9" }], actions: ["Admin", "Read", "Write", "List", "Tagging"] },
      { name: "backup", credentials: [S3_BACKUP_KEY], actions: backupActions },
    ],
  });
/** The Cloudflare Origin CA certificate's stand-in: a wildcard for the example's host names. */
const ORIGIN = selfSignedCertificate(["*.example.com", "example.com"]);
const SECRETS = {
  INFRA_SECRET_TLS_CERTIFICATE: ORIGIN.certificate,
  INFRA_SECRET_TLS_PRIVATE_KEY: ORIGIN.privateKey,
  INFRA_SECRET_SEAWEEDFS_S3_CONFIG: s3Config(["Read", "List"]),
  INFRA_SECRET_MONGO_ROOT_PASSWORD: "root-pass-Vx81",
  INFRA_SECRET_MONGO_KEYFILE: "a2V5ZmlsZS1jb250ZW50LTAxMjM0NTY3ODk=",
  INFRA_SECRET_ROCKETCHAT_MONGO_PASSWORD: "rc-pass-Q77",
  INFRA_SECRET_KEYCLOAK_DB_PASSWORD: "kc-db-pass-Z12",
  INFRA_SECRET_KEYCLOAK_ADMIN_PASSWORD: "kc-admin-pass-P03",
  // Characters a URI must encode.
  INFRA_SECRET_MONGO_BACKUP_PASSWORD: "mb/p@ss:w0rd?#",
  INFRA_SECRET_POSTGRES_BACKUP_PASSWORD: "pg-backup-pass-M5",
  INFRA_SECRET_METRICS_TOKEN: "metrics-token-4c1d9e0b7a5f3e2d1c0b9a8f7e6d5c4b",
  INFRA_SECRET_GRAFANA_ADMIN_PASSWORD: "grafana-admin-pass-R7",
  INFRA_SECRET_ROCKETCHAT_ALERTS_WEBHOOK_URL: "https://chat.example.com/hooks/aLeRtHoOk/tOkEn-Zq81",
};
const BACKUP_KEY = ed25519PublicKey("edge-ops-backup");
/** Single lines of every secret value (a PEM's lines are what would show in a command line). */
const secretLines = () => Object.values(SECRETS).flatMap((value) => value.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----")));

function workspace(): { ws: InfraWorkspace; ssh: FakeSshStateHandle } {
  const ssh = createFakeSshState(undefined, { hetznerUrl: hetzner.url });
  return { ssh, ws: infraWorkspace({ hetznerUrl: hetzner.url, sshEnv: ssh.env, extraEnv: SECRETS }) };
}

// One environment's life, step by step: its tests keep their order even under --sequence.shuffle.
describe("the lifecycle of an environment", { shuffle: false, timeout: 30_000 }, () => {
  const { ws, ssh } = workspace();
  const name = uniqueEnvironment("life");
  const selector = `managed-by=edge-ops,env=${name}`;
  const withBackupKey = (mongodbNode = 2) => (document: Record<string, unknown>) => Object.assign(document.backup as Record<string, unknown>, { ssh_public_key: BACKUP_KEY, mongodb_node: mongodbNode });
  beforeAll(() => ws.environment(name, "example", withBackupKey()));
  const networkOf = async () => (await hetznerApi("GET", `/networks?label_selector=${encodeURIComponent(selector)}`)).networks[0];

  it("plans every resource, exit 2", async () => {
    const result = await ws.run("plan", "--env", name);
    expect(result.code, result.err).toBe(2);
    for (const line of ["+ create ssh_key", `+ create network edge-ops-${name}`, `+ create firewall edge-ops-${name}`, `+ create placement_group edge-ops-${name}`]) expect(result.out).toContain(line);
    for (const node of [1, 2, 3]) {
      expect(result.out).toContain(`+ create server edge-ops-${name}-${node}`);
      expect(result.out).toContain(`+ create volume edge-ops-${name}-data-${node}`);
    }
    expect(result.out).toContain("Plan: 10 to create, 0 to update, 0 to delete, 0 to fix by hand.");
    // The web ports' sources are listed: Cloudflare's ranges, from the data file, with its date.
    expect(result.out).toContain(`Web (80/443) open to Cloudflare's ${CLOUDFLARE.ipv4.length + CLOUDFLARE.ipv6.length} ranges only (infra/cloudflare-ips.json, ${CLOUDFLARE.date}): ${CLOUDFLARE.ipv4[0]}`);
    expect(result.out).toContain(`in tcp port 443 from ${[...CLOUDFLARE.ipv4, ...CLOUDFLARE.ipv6].sort().join(", ")} (HTTPS from Cloudflare (Traefik))`);
  });

  let applyStartedAt = 0;
  it("applies: labelled resources, the firewall on each server, and a Swarm of three managers", async () => {
    applyStartedAt = await clock();
    ssh.setBoot({ bootCalls: 2, cloudInitCalls: 2 });
    ws.env.INFRA_PROGRESS_S = "0";
    // Actions that outlast several polls, so that the progress lines show on a loaded machine too
    // (at 250 ms a starved runner polled only after they had finished, and printed none).
    const actionTime = (actionMs: number) => fetch(`${hetzner.url}/__fake/actions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ actionMs }) });
    await actionTime(1000);
    const result = await ws.run("apply", "--env", name, "--yes").finally(() => actionTime(30));
    delete ws.env.INFRA_PROGRESS_S;
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    // The long waits said what they were waiting for.
    expect(result.out).toMatch(/^… waiting for Hetzner: (.*, )?create_server \d+%/m);
    expect(result.out).toMatch(new RegExp(`^… waiting for SSH and cloud-init: .*edge-ops-${name}-\\d \\((no SSH yet|cloud-init running)\\)`, "m"));
    const creations = mutating(await requestsSince(applyStartedAt));
    expect(creations.filter((request) => request.path === "/v1/servers")).toHaveLength(3);
    expect(creations.filter((request) => request.path === "/v1/volumes")).toHaveLength(3);

    const servers = await fakeServers(selector);
    expect(servers.map((server) => server.name).sort()).toEqual([1, 2, 3].map((node) => `edge-ops-${name}-${node}`));
    const environment = loadEnvironment(join(ws.dir, "environments"), name);
    for (const server of servers) {
      expect(server.labels).toMatchObject({ "managed-by": "edge-ops", env: name, role: "swarm-node" });
      expect(server.user_data).toContain('"mtu": 1450');
      expect(server.user_data).toContain("docker-ce");
      expect(server.placement_group).not.toBeNull();
      // The backup user from the first boot: the same script deploy runs, as valid cloud-config.
      const cloudConfig = parse(server.user_data) as { packages: string[]; write_files: { path: string; content: string }[]; runcmd: unknown[] };
      expect(cloudConfig.packages).toEqual(expect.arrayContaining(["rsync", "acl"]));
      expect(cloudConfig.write_files.find((file) => file.path === "/usr/local/sbin/edge-ops-backup-access")?.content).toBe(backupAccessScript(environment));
      expect(cloudConfig.runcmd).toContainEqual(["/usr/local/sbin/edge-ops-backup-access"]);
    }
    expect(result.out).toContain(`BACKUP_NETWORK_ID=${(await networkOf()).id} (network edge-ops-${name}, eu-central`);
    const [firewall] = (await hetznerApi("GET", `/firewalls?label_selector=${encodeURIComponent(selector)}`)).firewalls;
    expect(firewall.rules.map((rule: any) => `${rule.protocol}/${rule.port ?? ""}`).sort()).toEqual(["icmp/", "tcp/22", "tcp/443", "tcp/80"]);
    // 80 and 443 only from Cloudflare's published ranges; SSH only from the file's addresses.
    const sourcesOf = (port: string) => [...firewall.rules.find((rule: any) => rule.port === port).source_ips].sort();
    expect(sourcesOf("80")).toEqual([...CLOUDFLARE.ipv4, ...CLOUDFLARE.ipv6].sort());
    expect(sourcesOf("443")).toEqual([...CLOUDFLARE.ipv4, ...CLOUDFLARE.ipv6].sort());
    expect(sourcesOf("22")).toEqual(["198.51.100.0/24", "2001:db8:100::/48"]);
    expect(firewall.applied_to.map((target: any) => target.server.id).sort()).toEqual(servers.map((server) => server.id).sort());
    const { placement_groups: groups } = await hetznerApi("GET", `/placement_groups?label_selector=${encodeURIComponent(selector)}`);
    expect(groups).toEqual([expect.objectContaining({ type: "spread", servers: expect.arrayContaining(servers.map((server) => server.id)) })]);
    const { volumes } = await hetznerApi("GET", `/volumes?label_selector=${encodeURIComponent(selector)}`);
    expect(volumes.map((volume: any) => volume.server).sort()).toEqual(servers.map((server) => server.id).sort());

    // Swarm: one init on node 1 at its private address, two joins to it, labels node=N.
    const node1 = ssh.host(`edge-ops-${name}-1`)!;
    const inits = ssh.commands(/^docker swarm init/);
    expect(inits).toHaveLength(1);
    expect(inits[0]).toMatchObject({ hostname: `edge-ops-${name}-1`, command: `docker swarm init --advertise-addr ${node1.privateIp} --default-addr-pool 10.128.0.0/12` });
    // Joins through the Engine API with the token on stdin: never `docker swarm join --token`.
    expect(ssh.commands(/swarm join --token/)).toEqual([]);
    const joins = ssh.commands(/\/swarm\/join$/);
    expect(joins.map((record) => record.hostname).sort()).toEqual([`edge-ops-${name}-2`, `edge-ops-${name}-3`]);
    for (const join of joins) {
      expect(join.command).toBe("curl --silent --show-error --fail-with-body --unix-socket /var/run/docker.sock --header 'Content-Type: application/json' --data-binary @- http://localhost/swarm/join");
      expect(join.stdin).toMatch(/^<redacted \d+ bytes>$/);
    }
    const swarm = ssh.swarm()!;
    expect(swarm.managers).toHaveLength(3);
    expect(Object.values(swarm.nodes).map((node) => `${node.hostname}:${node.labels.node}`).sort()).toEqual([1, 2, 3].map((node) => `edge-ops-${name}-${node}:${node}`));
    // The join token never reaches the output.
    expect(`${result.out}${result.err}`).not.toContain(swarm.tokens.manager);
    // Boot: refused connections were retried, then cloud-init polled until it was done.
    expect(ssh.commands({ match: /^cloud-init status$/, exitCode: 255 }).length).toBeGreaterThanOrEqual(3);
    expect(ssh.commands({ match: /^cloud-init status$/, exitCode: 0 }).length).toBeGreaterThanOrEqual(6);
    expect(result.out).toMatch(/Hetzner API: \d+ requests answered/);
  });

  it("plans no change afterwards, exit 0", async () => {
    const result = await ws.run("plan", "--env", name);
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain("No changes");
  });

  it("a second apply makes no mutating Hetzner call and changes nothing in the Swarm", async () => {
    const before = ssh.commands().length;
    const startedAt = await clock();
    const result = await ws.run("apply", "--env", name, "--yes");
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    const requests = await requestsSince(startedAt);
    expect(mutating(requests)).toEqual([]);
    // Six list calls: SSH keys, networks, firewalls, placement groups, servers, volumes.
    expect(requests.length).toBe(6);
    const commands = ssh.commands().slice(before).map((record) => record.command);
    expect(commands.filter((command) => /swarm (init|join)|node update/.test(command))).toEqual([]);
    expect(result.out).toContain("Swarm: no changes (3 managers).");
  });

  it("deploys: docker secrets from stdin first, then the configs, then each stack on stdin, rendered", async () => {
    const before = ssh.commands().length;
    const result = await ws.run("deploy", "--env", name);
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    const records = ssh.commands().slice(before);
    const creates = records.filter((record) => record.command.startsWith("docker secret create"));
    expect(creates).toHaveLength(13);
    for (const record of creates) expect(record.stdin).toMatch(/^<redacted \d+ bytes>$/);
    const deploys = records.filter((record) => record.command.startsWith("docker stack deploy"));
    expect(deploys.map((record) => record.command)).toEqual(["core", "apps", "monitoring"].map((stack) => `docker stack deploy --prune --with-registry-auth --detach=false -c - ${stack}`));
    expect(records.findIndex((record) => record.command.startsWith("docker stack deploy"))).toBeGreaterThan(records.findLastIndex((record) => record.command.startsWith("docker secret create")));
    // The monitoring stack's configs, versioned by content, created before any stack that names them.
    const configCreates = records.filter((record) => record.command.startsWith("docker config create"));
    expect(configCreates.map((record) => record.command.split(" ").at(-2)?.replace(/_[0-9a-f]{12}$/, "")).sort()).toEqual(
      ["alertmanager_yml", "alloy_config", "grafana_dashboard_edge_ops", "grafana_dashboards", "grafana_datasources", "loki_yml", "prometheus_rules", "prometheus_yml", "traefik_tls"].sort(),
    );
    expect(records.findIndex((record) => record.command.startsWith("docker stack deploy"))).toBeGreaterThan(records.findLastIndex((record) => record.command.startsWith("docker config create")));
    const prometheusConfig = configCreates.find((record) => / prometheus_yml_[0-9a-f]{12} -$/.test(record.command))!;
    expect(prometheusConfig.stdin).toContain('- targets: ["edge.example.com"]');
    expect(result.out).toContain("13 new docker secrets, 9 new docker configs; 0 unused secrets and 0 unused configs removed.");
    // The certificate every Traefik serves was checked before anything was created.
    expect(result.out).toMatch(/~ tls_certificate: \*\.example\.com, example\.com, issued by CN=\*\.example\.com, valid until \d{4}-\d{2}-\d{2}/);
    expect(result.out).not.toContain("does not cover");
    const swarm = ssh.swarm()!;
    expect(Object.keys(swarm.stacks).sort()).toEqual(["apps", "core", "monitoring"]);
    const monitoring = swarm.stacks.monitoring!.file;
    expect(monitoring).toContain(`name: ${prometheusConfig.command.split(" ").at(-2)}`);
    expect(monitoring.replaceAll("$$", "")).not.toMatch(/\$\{[A-Z_]+/);
    const core = swarm.stacks.core!.file;
    expect(core).toContain("s3.example.com");
    expect(core.replaceAll("$$", "")).not.toMatch(/\$\{[A-Z_]+/);
    // No value in a stack file, a command line, or the output.
    const everything = JSON.stringify(ssh.read()) + result.out + result.err;
    for (const value of [...Object.values(SECRETS), ...secretLines()]) expect(everything).not.toContain(value);
    // Data directories exist before the stacks that bind-mount them.
    expect(records.filter((record) => record.command === "mountpoint -q /mnt/data").map((record) => record.hostname).sort()).toEqual([1, 2, 3].map((node) => `edge-ops-${name}-${node}`));
    const mkdirs = records.filter((record) => record.command.startsWith("mkdir -p "));
    expect(mkdirs).toHaveLength(3);
    expect(mkdirs[0]!.command.split(" ").slice(2)).toEqual(expect.arrayContaining(["/mnt/data/traefik", "/mnt/data/seaweedfs/master", "/mnt/data/mongo", "/mnt/data/postgres"]));
    expect(records.findIndex((record) => record.command.startsWith("docker stack deploy"))).toBeGreaterThan(records.findLastIndex((record) => record.command.startsWith("mkdir -p")));
    // The backup user on every node: only read-only rsync with the environment's key, and the paths readable.
    const access = records.filter((record) => record.command === "bash -s");
    expect(access.map((record) => record.hostname).sort()).toEqual([1, 2, 3].map((node) => `edge-ops-${name}-${node}`));
    const script = access[0]!.stdin!;
    expect(script).toContain(`printf '%s %s\\n' 'restrict,command="rrsync -ro /"' '${BACKUP_KEY}' > /var/lib/edge-ops-backup/.ssh/authorized_keys.new`);
    expect(script).toContain("useradd --system --user-group --shell /bin/sh --home-dir /var/lib/edge-ops-backup --no-create-home edge-ops-backup");
    expect(script).toContain("install -d -o root -g root -m 0755 /var/lib/edge-ops-backup /var/lib/edge-ops-backup/.ssh");
    expect(script).toContain("for path in '/opt/core' '/opt/apps'; do");
    expect(script).toContain('setfacl -R -m u:edge-ops-backup:rX,d:u:edge-ops-backup:rX "$path"');
    expect(spawnSync("sh", ["-n"], { input: script }).status, "the script parses").toBe(0);
    expect(result.out).toContain("~ edge-ops-backup on 3 nodes: read-only rsync of /opt/core, /opt/apps");
  });

  it("refuses to deploy onto a node without its data volume, before any stack", async () => {
    ssh.armFault({ hostname: `edge-ops-${name}-2`, match: "^mountpoint -q /mnt/data$", exitCode: 1 });
    const before = ssh.commands().length;
    const result = await ws.run("deploy", "--env", name);
    expect(result.code).toBe(1);
    expect(result.err).toContain(`edge-ops-${name}-2: no data volume mounted at /mnt/data`);
    expect(ssh.commands().slice(before).filter((record) => record.command.startsWith("docker stack deploy"))).toEqual([]);
  });

  it("a second deploy creates no secret or config again", async () => {
    const before = ssh.commands().length;
    const result = await ws.run("deploy", "--env", name);
    expect(result.code, result.err).toBe(0);
    expect(ssh.commands().slice(before).filter((record) => /^docker (secret|config) (create|rm)/.test(record.command))).toEqual([]);
  });

  it("removes the docker secrets and configs of ours that no service uses any more, and nothing else", async () => {
    const swarm = ssh.swarm()!;
    const versionOf = (names: string[], key: string) => names.filter((entry) => entry.startsWith(`${key}_`));
    const oldPassword = versionOf(Object.keys(swarm.secrets), "grafana_admin_password");
    const oldPrometheus = versionOf(Object.keys(swarm.configs ?? {}), "prometheus_yml");
    expect(oldPassword).toHaveLength(1);
    expect(oldPrometheus).toHaveLength(1);
    // Someone's own secret (not ours), and one of ours left by an earlier deploy that nothing uses.
    const managerIp = ssh.host(`edge-ops-${name}-1`)!.ip;
    expect((await remote(ssh, managerIp, "docker secret create --label managed-by=edge-ops leftover_0123456789ab -", "old")).code).toBe(0);
    expect((await remote(ssh, managerIp, "docker secret create someone_elses_secret -", "theirs")).code).toBe(0);

    const savedPassword = ws.env.INFRA_SECRET_GRAFANA_ADMIN_PASSWORD;
    ws.env.INFRA_SECRET_GRAFANA_ADMIN_PASSWORD = "grafana-admin-pass-R8-rotated";
    ws.environment(name, "example", (document) => {
      withBackupKey()(document);
      const monitoring = (document.stacks as { name: string; variables: Record<string, string> }[]).find((stack) => stack.name === "monitoring")!;
      monitoring.variables.WORKER_HOST = "edge2.example.com";
    });
    try {
      const before = ssh.commands().length;
      const result = await ws.run("deploy", "--env", name);
      expect(result.code, `${result.out}\n${result.err}`).toBe(0);
      const after = ssh.swarm()!;
      const newPassword = versionOf(Object.keys(after.secrets), "grafana_admin_password");
      const newPrometheus = versionOf(Object.keys(after.configs ?? {}), "prometheus_yml");
      // The new versions are in use; the old ones, and our leftover, are gone; someone else's stays.
      expect(newPassword).toHaveLength(1);
      expect(newPassword).not.toEqual(oldPassword);
      expect(newPrometheus).toHaveLength(1);
      expect(newPrometheus).not.toEqual(oldPrometheus);
      expect(Object.keys(after.secrets)).not.toContain("leftover_0123456789ab");
      expect(Object.keys(after.secrets)).toContain("someone_elses_secret");
      expect(result.out).toContain(`- docker secret ${oldPassword[0]} (no service uses it)`);
      expect(result.out).toContain(`- docker config ${oldPrometheus[0]} (no service uses it)`);
      expect(result.out).toContain("2 unused secrets and 1 unused configs removed.");
      // Every secret and config still referenced by a service is still there.
      const referenced = Object.values(after.stacks).flatMap((stack) => Object.values(stack.services).flatMap((service) => [...(service.secrets ?? []), ...(service.configs ?? [])]));
      for (const ref of referenced) expect([...Object.keys(after.secrets), ...Object.keys(after.configs ?? {})]).toContain(ref);
      // What was in use was found with docker service inspect, and removal asked for nothing in use.
      const commands = ssh.commands().slice(before).map((record) => record.command);
      expect(commands).toContain("docker service ls --quiet");
      expect(commands.some((command) => command.startsWith("docker service inspect --format '[{{json .Spec.TaskTemplate.ContainerSpec.Secrets}},{{json .Spec.TaskTemplate.ContainerSpec.Configs}}]' "))).toBe(true);
      expect(ssh.commands().slice(before).filter((record) => / rm /.test(record.command) && record.exitCode !== 0)).toEqual([]);
    } finally {
      ws.env.INFRA_SECRET_GRAFANA_ADMIN_PASSWORD = savedPassword;
      ws.environment(name, "example", withBackupKey());
    }
  });

  it("a replaced server: apply joins its successor and demotes and removes the old, unreachable manager", async () => {
    const old = (await fakeServers(selector)).find((server) => server.name === `edge-ops-${name}-2`)!;
    const oldNode = Object.values(ssh.swarm()!.nodes).find((node) => node.serverId === old.id)!;
    expect(oldNode.role).toBe("manager");
    await hetznerApi("DELETE", `/servers/${old.id}`);
    for (let tries = 0; (await fakeServers(selector)).some((server) => server.id === old.id); tries++) {
      if (tries > 200) throw new Error("the server was not deleted");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const before = ssh.commands().length;
    const result = await ws.run("apply", "--env", name, "--yes");
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    const swarm = ssh.swarm()!;
    expect(swarm.nodes[oldNode.id]).toBeUndefined();
    expect(swarm.managers).toHaveLength(3);
    expect(Object.values(swarm.nodes).map((node) => `${node.hostname}:${node.state}:${node.labels.node}`).sort()).toEqual([1, 2, 3].map((node) => `edge-ops-${name}-${node}:ready:${node}`));
    const commands = ssh.commands().slice(before).map((record) => record.command);
    expect(commands.indexOf(`docker node demote ${oldNode.id}`)).toBeGreaterThan(-1);
    expect(commands.indexOf(`docker node rm ${oldNode.id}`)).toBeGreaterThan(commands.indexOf(`docker node demote ${oldNode.id}`));
    expect(result.out).toContain(`- swarm node edge-ops-${name}-2 (${oldNode.id}, Down, Unreachable): demoted and removed`);
    expect(result.out).toContain("1 joined, 1 labelled, 1 stale removed (3 managers)");
    // The old data volume is attached to the new server; nothing is left to do.
    expect((await ws.run("plan", "--env", name)).code).toBe(0);
    const again = await ws.run("apply", "--env", name, "--yes");
    expect(again.out).toContain("Swarm: no changes (3 managers).");
  });

  it("backup-targets refuses to write to a terminal, before any Hetzner call", async () => {
    const startedAt = await clock();
    const result = await ws.runAtTerminal("backup-targets", "--env", name);
    expect(result.code).toBe(1);
    expect(result.out).toBe("");
    expect(result.err).toContain("backup-targets prints the backup users' passwords and keys, so it writes only into a pipe, never to a terminal");
    expect(result.err).toContain("npm run -s infra -- backup-targets --env <name> | npx wrangler secret put BACKUP_TARGETS");
    expect(await requestsSince(startedAt)).toEqual([]);
  });

  it("backup-targets prints BACKUP_TARGETS from the nodes' private addresses, the secrets and the host keys", async () => {
    const before = ssh.commands().length;
    const result = await ws.run("backup-targets", "--env", name);
    expect(result.code, result.err).toBe(0);
    // stdout is the JSON alone (it goes into wrangler secret put); everything else is on stderr.
    expect(result.out.split("\n")).toHaveLength(1);
    const targets = JSON.parse(result.out) as unknown;
    expect(backupTargetsVariable.safeParse(JSON.stringify(targets)).success).toBe(true);
    const node = (n: number) => ssh.host(`edge-ops-${name}-${n}`)!;
    expect(targets).toEqual([
      { name: "mongodb", kind: "mongodb", uri: `mongodb://backup:mb%2Fp%40ss%3Aw0rd%3F%23@${node(2).privateIp}:27017/?directConnection=true&authSource=admin` },
      { name: "keycloak-postgres", kind: "postgres", host: node(3).privateIp, port: 5432, database: "keycloak", user: "backup", password: SECRETS.INFRA_SECRET_POSTGRES_BACKUP_PASSWORD },
      { name: "seaweedfs", kind: "s3", endpoint: `http://${node(1).privateIp}:8333`, accessKeyId: S3_BACKUP_KEY.accessKey, secretAccessKey: S3_BACKUP_KEY.secretKey, region: "us-east-1" },
      ...[1, 2, 3].map((n) => ({ name: `node${n}-host`, kind: "path", host: node(n).privateIp, user: "edge-ops-backup", port: 22, paths: ["/opt/core", "/opt/apps"], hostKey: node(n).hostKey })),
    ]);
    for (const n of [1, 2, 3]) {
      expect(node(n).privateIp).toMatch(/^10\.42\.1\.\d+$/);
      expect(node(n).hostKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
    }
    expect(ssh.commands().slice(before).map((record) => record.command)).toEqual([HOST_KEY_COMMAND, HOST_KEY_COMMAND, HOST_KEY_COMMAND]);
    expect(result.err).toContain("BACKUP_TARGETS written to stdout: mongodb, keycloak-postgres, seaweedfs, node1-host, node2-host, node3-host.");
    expect(result.err).toContain(`BACKUP_NETWORK_ID=${(await networkOf()).id}`);
    for (const value of Object.values(SECRETS)) expect(result.err).not.toContain(value);

    // Another member while node 2 is down: the file says which.
    ws.environment(name, "example", withBackupKey(3));
    try {
      const moved = await ws.run("backup-targets", "--env", name);
      expect((JSON.parse(moved.out) as { uri?: string }[])[0]?.uri).toContain(`@${node(3).privateIp}:27017/?directConnection=true`);
    } finally {
      ws.environment(name, "example", withBackupKey());
    }
  });

  it("backup-targets refuses an S3 backup identity that may write, naming it, and prints nothing", async () => {
    const saved = ws.env.INFRA_SECRET_SEAWEEDFS_S3_CONFIG;
    ws.env.INFRA_SECRET_SEAWEEDFS_S3_CONFIG = s3Config(["Read", "List", "Write:uploads"]);
    try {
      const result = await ws.run("backup-targets", "--env", name);
      expect(result.code).toBe(1);
      expect(result.out).toBe("");
      expect(result.err).toContain('seaweedfs_s3_config: the identity "backup" must have only Read and List actions (it has Write:uploads)');
      expect(result.err).not.toContain(S3_BACKUP_KEY.secretKey);
    } finally {
      ws.env.INFRA_SECRET_SEAWEEDFS_S3_CONFIG = saved;
    }
  });

  it("status: healthy, exit 0; a service short of replicas is degraded, exit 2", async () => {
    const healthy = await ws.run("status", "--env", name);
    expect(healthy.code, healthy.out).toBe(0);
    expect(healthy.out).toContain("Healthy.");
    expect(healthy.out).toContain(`BACKUP_NETWORK_ID=${(await networkOf()).id}`);
    expect(healthy.out).toMatch(new RegExp(`edge-ops-${name}-1\\s+Ready`));
    ssh.setServiceHealth("apps_rocketchat", "0/1");
    const degraded = await ws.run("status", "--env", name);
    expect(degraded.code).toBe(2);
    expect(degraded.out).toMatch(/apps_rocketchat\s+replicated\s+0\/1\s+DEGRADED/);
    ssh.setServiceHealth("apps_rocketchat", null);
  });

  it("destroy refuses without --yes when no one is at a terminal", async () => {
    const result = await ws.run("destroy", "--env", name);
    expect(result.code).toBe(1);
    expect(result.err).toContain("needs --yes when not run from a terminal");
    expect(await fakeServers(selector)).toHaveLength(3);
  });

  it("destroy deletes only what is labelled and keeps the data volumes, labelled, for the next apply", async () => {
    const bystander = await hetznerApi("POST", "/servers", { name: `bystander-${name}`, server_type: "cx23", image: "debian-12", location: "nbg1", labels: { "managed-by": "edge-ops", env: `${name}-other` } });
    const result = await ws.run("destroy", "--env", name, "--yes");
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    expect(result.out).toContain(`Destroyed: only the 3 data volumes of ${name} remain`);
    for (const node of [1, 2, 3]) expect(result.out).toContain(`keep volume edge-ops-${name}-data-${node} (data; --delete-volumes deletes it)`);
    expect(await fakeServers(selector)).toEqual([]);
    for (const kind of ["firewalls", "placement_groups", "networks", "ssh_keys"]) {
      expect((await hetznerApi("GET", `/${kind}?label_selector=${encodeURIComponent(selector)}`))[kind], kind).toEqual([]);
    }
    const { volumes } = await hetznerApi("GET", `/volumes?label_selector=${encodeURIComponent(selector)}`);
    expect(volumes.map((volume: any) => volume.name).sort()).toEqual([1, 2, 3].map((node) => `edge-ops-${name}-data-${node}`));
    expect((await hetznerApi("GET", `/servers/${bystander.server.id}`)).server.name).toBe(`bystander-${name}`);
    // The next plan attaches them to the new servers instead of making new ones.
    const again = await ws.run("plan", "--env", name);
    expect(again.code).toBe(2);
    expect(again.out).not.toContain(`+ create volume`);
    expect(again.out).toContain(`~ update volume edge-ops-${name}-data-1\n    attach to edge-ops-${name}-1 once it is created (the volume keeps its data)`);
  });

  it("destroy --delete-volumes refuses without a backup that ended done in the last day, naming why", async () => {
    const withWorker = (document: Record<string, unknown>) => {
      withBackupKey()(document);
      (document.backup as Record<string, unknown>).worker_url = fakeWorker.url;
    };
    ws.environment(name, "example", withWorker);
    const volumes = async () => (await hetznerApi("GET", `/volumes?label_selector=${encodeURIComponent(selector)}`)).volumes as unknown[];

    const noToken = await ws.run("destroy", "--env", name, "--yes", "--delete-volumes");
    expect(noToken.code).toBe(1);
    expect(noToken.err).toContain("set INFRA_ADMIN_TOKEN (the Worker's ADMIN_TOKEN), or pass --force");

    ws.env.INFRA_ADMIN_TOKEN = ADMIN_TOKEN;
    worker.runs = [backupRun("run-new", "failed", 1), backupRun("run-old", "done", 30)];
    const stale = await ws.run("destroy", "--env", name, "--yes", "--delete-volumes");
    expect(stale.code).toBe(1);
    expect(stale.err).toContain("refusing to delete the data volumes: no backup run ended done in the last 24 h (the last one ending done was run-old, 30 h ago; the newest run, run-new, is failed)");
    expect(await volumes()).toHaveLength(3);
    expect(worker.seen.at(-1)).toMatchObject({ method: "GET", headers: expect.objectContaining({ authorization: `Bearer ${ADMIN_TOKEN}` }) });
    expect(worker.seen.at(-1)!.url.pathname).toBe("/api/backups/runs");

    worker.runs = [backupRun("run-fresh", "done", 2), backupRun("run-old", "done", 30)];
    const result = await ws.run("destroy", "--env", name, "--yes", "--delete-volumes");
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    expect(result.out).toContain("Backup: run run-fresh ended done at ");
    expect(result.out).toContain(`Destroyed: nothing labelled managed-by=edge-ops,env=${name} remains.`);
    expect(await volumes()).toEqual([]);
    expect(`${result.out}${result.err}`).not.toContain(ADMIN_TOKEN);
  });

  it("put no token or secret on any command line, on either side, during the whole lifecycle", () => {
    const swarm = ssh.swarm()!;
    const forbidden = [swarm.tokens.manager, swarm.tokens.worker, FAKE_HCLOUD_TOKEN, ADMIN_TOKEN, ...Object.values(SECRETS), ...secretLines()];
    expect(forbidden.every((value) => value.length > 8)).toBe(true);
    const records = ssh.read().records;
    expect(records.length).toBeGreaterThan(50);
    for (const record of records) {
      const argv = record.argv.join(" ");
      for (const value of forbidden) expect(argv.includes(value), `${record.command.slice(0, 80)} holds a secret`).toBe(false);
      // The SSH program's environment holds none of the CLI's credentials either.
      expect(record.environment.filter((variable) => /^(HCLOUD_TOKEN|INFRA_ADMIN_TOKEN|INFRA_SECRET_)/.test(variable))).toEqual([]);
    }
    // The tokens did reach the nodes: on stdin, recorded redacted.
    expect(records.filter((record) => record.command.endsWith("/swarm/join") && record.exitCode === 0).length).toBeGreaterThanOrEqual(3);
  });
});

describe("a failure half-way through apply", { timeout: 30_000 }, () => {
  const { ws, ssh } = workspace();
  const name = uniqueEnvironment("half");
  beforeAll(() => ws.environment(name, "example", (document) => (document.stacks = [])));

  it("leaves labelled resources that the next apply finishes, creating each server once", async () => {
    await fetch(`${hetzner.url}/__fake/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ method: "POST", path: "^/v1/servers$", body: `"name":"edge-ops-${name}-2"`, code: "resource_unavailable", message: "server type cx23 is unavailable in nbg1" }),
    });
    const startedAt = await clock();
    const failed = await ws.run("apply", "--env", name, "--yes");
    expect(failed.code).toBe(1);
    expect(failed.err).toContain("resource_unavailable");
    const selector = `managed-by=edge-ops,env=${name}`;
    expect((await fakeServers(selector)).map((server) => server.name).sort()).toEqual([`edge-ops-${name}-1`, `edge-ops-${name}-3`]);
    expect(ssh.commands(/^docker swarm init/)).toEqual([]);

    const plan = await ws.run("plan", "--env", name);
    expect(plan.code).toBe(2);
    expect(plan.out).toContain(`+ create server edge-ops-${name}-2`);
    expect(plan.out).not.toContain(`+ create server edge-ops-${name}-1`);

    const finished = await ws.run("apply", "--env", name, "--yes");
    expect(finished.code, `${finished.out}\n${finished.err}`).toBe(0);
    const posts = mutating(await requestsSince(startedAt)).filter((request) => request.path === "/v1/servers");
    const names = posts.map((request) => (request.body as { name: string }).name);
    expect(names.sort()).toEqual([1, 2, 2, 3].map((node) => `edge-ops-${name}-${node}`));
    expect(ssh.swarm()!.managers).toHaveLength(3);
    expect((await ws.run("plan", "--env", name)).code).toBe(0);
    expect((await ws.run("destroy", "--env", name, "--yes")).code).toBe(0);

    // The data volumes outlived destroy. --force alone is no way to delete them; with
    // --delete-volumes it skips the backup check (no INFRA_ADMIN_TOKEN here to ask the Worker), and says so.
    const volumes = async () => (await hetznerApi("GET", `/volumes?label_selector=${encodeURIComponent(selector)}`)).volumes as { name: string }[];
    expect((await volumes()).map((volume) => volume.name).sort()).toEqual([1, 2, 3].map((node) => `edge-ops-${name}-data-${node}`));
    const forceAlone = await ws.run("destroy", "--env", name, "--yes", "--force");
    expect(forceAlone.code).toBe(1);
    expect(forceAlone.err).toContain("--force only skips the backup check of --delete-volumes");
    const unchecked = await ws.run("destroy", "--env", name, "--yes", "--delete-volumes");
    expect(unchecked.code).toBe(1);
    expect(unchecked.err).toContain("set INFRA_ADMIN_TOKEN (the Worker's ADMIN_TOKEN), or pass --force");
    expect(await volumes()).toHaveLength(3);
    const forced = await ws.run("destroy", "--env", name, "--yes", "--delete-volumes", "--force");
    expect(forced.code, `${forced.out}\n${forced.err}`).toBe(0);
    expect(forced.out).toContain("! --force: the data volumes are deleted without checking for a recent backup");
    expect(await volumes()).toEqual([]);
  });
});

describe("two managers gone at once", { timeout: 30_000 }, () => {
  const { ws, ssh } = workspace();
  const name = uniqueEnvironment("quorum");
  beforeAll(() => ws.environment(name, "example", (document) => (document.stacks = [])));

  it("apply stops at the lost quorum, says what to do, and removes nothing", async () => {
    expect((await ws.run("apply", "--env", name, "--yes")).code).toBe(0);
    const selector = `managed-by=edge-ops,env=${name}`;
    const before = Object.keys(ssh.swarm()!.nodes).sort();
    const gone = (await fakeServers(selector)).filter((server) => server.name !== `edge-ops-${name}-1`);
    for (const server of gone) await hetznerApi("DELETE", `/servers/${server.id}`);
    for (let tries = 0; (await fakeServers(selector)).length > 1; tries++) {
      if (tries > 200) throw new Error("the servers were not deleted");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const commands = ssh.commands().length;
    const result = await ws.run("apply", "--env", name, "--yes");
    expect(result.code).toBe(1);
    expect(result.err).toContain(`error: the Swarm seen from edge-ops-${name}-1 has no leader: more than half of its managers are unreachable`);
    expect(result.err).toContain("docker swarm init --force-new-cluster --advertise-addr <its private address>");
    // The new servers exist (Hetzner's side is done) but nothing joined, and no node was touched.
    expect((await fakeServers(selector)).map((server) => server.name).sort()).toEqual([1, 2, 3].map((node) => `edge-ops-${name}-${node}`));
    expect(Object.keys(ssh.swarm()!.nodes).sort()).toEqual(before);
    expect(ssh.commands().slice(commands).filter((record) => /\/swarm\/join$|node (demote|rm)/.test(record.command))).toEqual([]);
    expect((await ws.run("destroy", "--env", name, "--yes", "--delete-volumes", "--force")).code).toBe(0);
  });
});

describe("drift", { timeout: 30_000 }, () => {
  const { ws } = workspace();
  const name = uniqueEnvironment("drift");
  beforeAll(() => ws.environment(name, "example", (document) => (document.stacks = [])));

  it("a firewall changed by hand is planned as an update and set back by one call", async () => {
    expect((await ws.run("apply", "--env", name, "--yes")).code).toBe(0);
    const [firewall] = (await hetznerApi("GET", `/firewalls?label_selector=${encodeURIComponent(`managed-by=edge-ops,env=${name}`)}`)).firewalls;
    const changed = await hetznerApi("POST", `/firewalls/${firewall.id}/actions/set_rules`, { rules: [{ direction: "in", protocol: "tcp", port: "2375", source_ips: ["0.0.0.0/0"] }] });
    // As at Hetzner: the rules, then applying them again to each of the three servers.
    expect(changed.actions.map((action: any) => action.command)).toEqual(["set_firewall_rules", "apply_firewall", "apply_firewall", "apply_firewall"]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const plan = await ws.run("plan", "--env", name);
    expect(plan.code).toBe(2);
    expect(plan.out).toContain(`~ update firewall edge-ops-${name}`);
    const startedAt = await clock();
    expect((await ws.run("apply", "--env", name, "--yes")).code).toBe(0);
    expect(mutating(await requestsSince(startedAt)).map((request) => request.path)).toEqual([`/v1/firewalls/${firewall.id}/actions/set_rules`]);
    expect((await ws.run("plan", "--env", name)).code).toBe(0);
  });

  it("labels added to the file are set on every resource; what apply will not touch is listed, and the rest is still fixed", async () => {
    // Its own apply first: suites run shuffled, so the test above may not have run yet.
    ws.environment(name, "example", (document) => (document.stacks = []));
    expect((await ws.run("apply", "--env", name, "--yes")).code).toBe(0);
    ws.environment(name, "example", (document) => {
      document.stacks = [];
      document.labels = { team: "ops" };
    });
    const plan = await ws.run("plan", "--env", name);
    expect(plan.code).toBe(2);
    expect(plan.out).toContain(`~ update server edge-ops-${name}-1\n    labels: set team=ops`);
    expect(plan.out).toContain("Plan: 0 to create, 9 to update, 0 to delete, 0 to fix by hand.");
    const startedAt = await clock();
    const applied = await ws.run("apply", "--env", name, "--yes");
    expect(applied.code, `${applied.out}\n${applied.err}`).toBe(0);
    const puts = mutating(await requestsSince(startedAt));
    expect(puts.map((request) => request.method)).toEqual(Array(9).fill("PUT"));
    for (const request of puts) expect((request.body as { labels: Record<string, string> }).labels).toMatchObject({ team: "ops", "managed-by": "edge-ops", env: name });
    const servers = await fakeServers(`managed-by=edge-ops,env=${name}`);
    for (const server of servers) expect(server.labels).toEqual({ team: "ops", "managed-by": "edge-ops", env: name, role: "swarm-node", node: server.labels.node });
    expect((await ws.run("plan", "--env", name)).code).toBe(0);

    // A difference apply leaves to a person (a server type), next to one it fixes (the firewall).
    const [firewall] = (await hetznerApi("GET", `/firewalls?label_selector=${encodeURIComponent(`managed-by=edge-ops,env=${name}`)}`)).firewalls;
    await hetznerApi("POST", `/firewalls/${firewall.id}/actions/set_rules`, { rules: [{ direction: "in", protocol: "tcp", port: "22", source_ips: ["0.0.0.0/0"] }] });
    await new Promise((resolve) => setTimeout(resolve, 100));
    ws.environment(name, "example", (document) => {
      document.stacks = [];
      document.labels = { team: "ops" };
      document.server_type = "cpx22";
    });
    const manual = await ws.run("apply", "--env", name, "--yes");
    expect(manual.code).toBe(1);
    expect(manual.out).toContain("Left for a person (apply does not touch these):");
    for (const node of [1, 2, 3]) expect(manual.out).toContain(`  ! server edge-ops-${name}-${node}: is cx23, the file says cpx22: rescale by hand`);
    expect(manual.err).toContain("error: 3 differences need a person (listed above)");
    expect(manual.out).toContain(`~ firewall edge-ops-${name}: rules set`);
    ws.environment(name, "example", (document) => {
      document.stacks = [];
      document.labels = { team: "ops" };
    });
    expect((await ws.run("plan", "--env", name)).code).toBe(0);
    expect((await ws.run("destroy", "--env", name, "--yes")).code).toBe(0);
  });
});

describe("backup-image", { timeout: 30_000 }, () => {
  const { ws, ssh } = workspace();
  const name = uniqueEnvironment("image");
  beforeAll(() => ws.environment(name, "example"));

  it("installs the runner on a temporary server, snapshots it as role=backup-runner and deletes the server", async () => {
    const result = await ws.run("backup-image", "--env", name);
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    const [install] = ssh.commands(/^bash -s$/);
    expect(install!.stdin).toContain("/opt/edge-ops/backup-runner.sh");
    expect(install!.stdin).toContain("apt-get install -y -q --no-install-recommends restic");
    expect(install!.stdin).toContain("cloud-init clean --logs");
    const { images } = await hetznerApi("GET", `/images?type=snapshot&label_selector=${encodeURIComponent(`role=backup-runner,env=${name}`)}`);
    expect(images).toHaveLength(1);
    expect(await fakeServers(`managed-by=edge-ops,env=${name}`)).toEqual([]);
  });

  it("deletes the temporary server when the installation fails", async () => {
    ssh.armFault({ match: "^bash -s$", exitCode: 100, stderr: "E: Unable to locate package restic" });
    const result = await ws.run("backup-image", "--env", name);
    expect(result.code).toBe(1);
    expect(result.err).toContain("Unable to locate package restic");
    expect(result.out).toMatch(/- server edge-ops-.*-backup-image-/);
    expect(await fakeServers(`managed-by=edge-ops,env=${name}`)).toEqual([]);
  });
});

describe("backup-image keeps the newest two runner snapshots", { timeout: 30_000 }, () => {
  const { ws } = workspace();
  const name = uniqueEnvironment("prune");
  beforeAll(() => ws.environment(name, "example"));
  const seed = async (env: string, daysAgo: number, protect = false) =>
    (
      (await (
        await fetch(`${hetzner.url}/__fake/images`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ description: `runner ${env} ${daysAgo}d`, labels: { "managed-by": "edge-ops", env, role: "backup-runner" }, created: new Date(Date.now() - daysAgo * 86_400_000).toISOString(), protected: protect }),
        })
      ).json()) as { image: { id: number } }
    ).image.id;
  const snapshots = async (env: string) =>
    ((await hetznerApi("GET", `/images?type=snapshot&label_selector=${encodeURIComponent(`role=backup-runner,env=${env}`)}`)).images as { id: number }[]).map((image) => image.id).sort((a, b) => a - b);

  it("a third snapshot deletes the oldest; a protected one and another environment's stay", async () => {
    const oldest = await seed(name, 9);
    const previous = await seed(name, 2);
    const pinned = await seed(name, 20, true);
    const neighbour = await seed(`${name}-other`, 30);
    const result = await ws.run("backup-image", "--env", name);
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    const kept = await snapshots(name);
    expect(kept).toHaveLength(3);
    expect(kept).toContain(previous);
    expect(kept).toContain(pinned);
    expect(kept).not.toContain(oldest);
    expect(result.out).toContain(`- image ${oldest} "runner ${name} 9d" (older than the newest 2 runner snapshots)`);
    expect(result.out).toContain(`! image ${pinned} "runner ${name} 20d" kept: protected against deletion`);
    expect(await snapshots(`${name}-other`)).toEqual([neighbour]);
  });
});

describe("the command line", { timeout: 30_000 }, () => {
  const { ws } = workspace();

  it("explains usage errors", async () => {
    expect((await ws.run("plan")).err).toContain("--env <name> is required");
    expect((await ws.run("launch", "--env", "dev")).err).toContain("expected one command of plan, apply, destroy, status, deploy, backup-image, backup-targets, cloudflare-ips");
    expect((await ws.run("plan", "--env", "dev", "--forse")).err).toContain("Unknown option '--forse'");
    expect((await ws.run("plan", "--env", "dev", "--delete-volumes")).err).toContain("--delete-volumes and --force belong to destroy");
  });

  it("names an invalid field before any Hetzner call", async () => {
    ws.environment("broken", "example", (document) => ((document.network as Record<string, unknown>).subnet = "10.99.0.0/24"));
    const startedAt = await clock();
    const result = await ws.run("plan", "--env", "broken");
    expect(result.code).toBe(1);
    expect(result.err).toContain("network.subnet: must lie inside ip_range 10.42.0.0/16");
    expect((await requestsSince(startedAt)).filter((request) => String(request.query.label_selector ?? "").includes("env=broken"))).toEqual([]);
  });

  it("backup-targets names what the environment lacks before any Hetzner call: the backup key, a secret", async () => {
    ws.environment("nokey", "example");
    const startedAt = await clock();
    const noKey = await ws.run("backup-targets", "--env", "nokey");
    expect(noKey.code).toBe(1);
    expect(noKey.err).toContain("backup.ssh_public_key is not set, but backup.paths names host paths");
    ws.environment("nosecret", "example", (document) => ((document.backup as Record<string, unknown>).ssh_public_key = BACKUP_KEY));
    const saved = ws.env.INFRA_SECRET_POSTGRES_BACKUP_PASSWORD;
    delete ws.env.INFRA_SECRET_POSTGRES_BACKUP_PASSWORD;
    try {
      const noSecret = await ws.run("backup-targets", "--env", "nosecret");
      expect(noSecret.code).toBe(1);
      expect(noSecret.out).toBe("");
      expect(noSecret.err).toContain("no value for the docker secret postgres_backup_password: set POSTGRES_BACKUP_PASSWORD in");
    } finally {
      ws.env.INFRA_SECRET_POSTGRES_BACKUP_PASSWORD = saved;
    }
    ws.environment("unlisted", "example", (document) => {
      (document.backup as Record<string, unknown>).ssh_public_key = BACKUP_KEY;
      document.secrets = (document.secrets as string[]).filter((secret) => secret !== "mongo_backup_password");
    });
    const unlisted = await ws.run("backup-targets", "--env", "unlisted");
    expect(unlisted.err).toContain("secrets: the stacks publish a backup endpoint that needs mongo_backup_password, which the environment file does not list");
    const hetznerCalls = (await requestsSince(startedAt)).filter((request) => /env=(nokey|nosecret|unlisted)/.test(String(request.query.label_selector ?? "")));
    expect(hetznerCalls).toEqual([]);
  });

  it("refuses an environment file with a shell metacharacter in a path or a value before any remote command runs", async () => {
    const { ws: guarded, ssh } = workspace();
    guarded.environment("badpath", "example", (document) => ((document.backup as Record<string, unknown>).paths = ["/opt/core", "/mnt/data/x;$(touch /tmp/pwned)"]));
    guarded.environment("badvalue", "example", (document) => ((document.stacks as { variables: Record<string, string> }[])[0]!.variables.S3_HOST = "s3.example.com`reboot`"));
    guarded.environment("badfile", "example", (document) => ((document.stacks as { file: string }[])[0]!.file = "../../etc/passwd"));
    const startedAt = await clock();
    for (const [environment, field] of [
      ["badpath", "backup.paths.1: must be an absolute path of letters, digits, . _ - and / (not / itself, no ..)"],
      ["badvalue", "stacks.0.variables.S3_HOST: must be letters, digits and @ % + = : , . / _ - only"],
      ["badfile", "stacks.0.file: must not contain .."],
    ] as const) {
      for (const command of ["deploy", "apply", "backup-targets"]) {
        const result = await guarded.run(command, "--env", environment, ...(command === "apply" ? ["--yes"] : []));
        expect(result.code, `${command} ${environment}`).toBe(1);
        expect(result.err).toContain(field);
      }
    }
    expect(ssh.read().records).toEqual([]);
    expect((await requestsSince(startedAt)).filter((request) => /env=bad/.test(String(request.query.label_selector ?? "")))).toEqual([]);
  });

  it("dev.yaml needs the operator's addresses: plan refuses without INFRA_SSH_SOURCES, and never opens SSH to everyone", async () => {
    const name = uniqueEnvironment("devlike");
    ws.environment(name, "dev");
    const missing = await ws.run("plan", "--env", name);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("firewall.ssh_sources names ${INFRA_SSH_SOURCES}, which is not set: set it to the addresses that may reach SSH");
    ws.env.INFRA_SSH_SOURCES = "0.0.0.0/0";
    try {
      expect((await ws.run("plan", "--env", name)).err).toContain("INFRA_SSH_SOURCES: must not open SSH to the whole internet (0.0.0.0/0)");
      ws.env.INFRA_SSH_SOURCES = "203.0.113.7/32, 2001:db8::7/128";
      const planned = await ws.run("plan", "--env", name);
      expect(planned.code, planned.err).toBe(2);
      expect(planned.out).toContain("in tcp port 22 from 2001:db8::7/128, 203.0.113.7/32 (SSH)");
    } finally {
      delete ws.env.INFRA_SSH_SOURCES;
    }
    // status and deploy do not touch the firewall: they run without it.
    expect((await ws.run("status", "--env", name)).err).not.toContain("INFRA_SSH_SOURCES");
  });

  it("a network failure names the host and the cause, and counts no request as answered", async () => {
    ws.environment("unreachable", "example");
    // A port nothing listens on: taken from the system, then let go.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const saved = ws.env.HCLOUD_ENDPOINT;
    ws.env.HCLOUD_ENDPOINT = `http://127.0.0.1:${port}/v1`;
    try {
      const result = await ws.run("plan", "--env", "unreachable");
      expect(result.code).toBe(1);
      expect(result.err).toMatch(new RegExp(`^error: Hetzner API: cannot reach 127\\.0\\.0\\.1:${port}: connection refused \\(ECONNREFUSED\\) \\(GET /\\w+\\)$`));
      expect(result.err).not.toContain("fetch failed");
      expect(result.out).toContain("Hetzner API: 0 requests answered, 6 got no answer; remote commands: 0.");
    } finally {
      ws.env.HCLOUD_ENDPOINT = saved;
    }
  });

  it("cloudflare-ips fetches both lists into the data file; the next plan opens 80/443 to exactly them", async () => {
    const served = { v4: "173.245.48.0/20\n103.21.244.0/22\n203.0.113.0/24\n", v6: "2400:cb00::/32\n2606:4700::/32\n", status: 200 };
    const cloudflare = await startFake((request) => {
      const text = request.url.pathname === "/ips-v4" ? served.v4 : request.url.pathname === "/ips-v6" ? served.v6 : null;
      return text === null ? { status: 404, body: "not found", headers: { "content-type": "text/plain" } } : { status: served.status, body: text, headers: { "content-type": "text/plain" } };
    });
    const file = join(ws.dir, "cloudflare-ips.json");
    writeFileSync(file, readFileSync(join(REPOSITORY_ROOT, "infra", "cloudflare-ips.json")));
    ws.env.INFRA_CLOUDFLARE_IPS_FILE = file;
    ws.env.INFRA_CLOUDFLARE_IPS_URL = cloudflare.url;
    try {
      expect((await ws.run("cloudflare-ips", "--env", "example")).err).toContain("cloudflare-ips takes no --env");
      const refreshed = await ws.run("cloudflare-ips");
      expect(refreshed.code, refreshed.err).toBe(0);
      expect(refreshed.out).toContain("+ 203.0.113.0/24");
      expect(refreshed.out).toContain("- 104.16.0.0/13");
      expect(refreshed.out).toContain(`Cloudflare's ranges: 3 IPv4, 2 IPv6 from ${cloudflare.url}/ips-v4 and ${cloudflare.url}/ips-v6`);
      const written = JSON.parse(readFileSync(file, "utf8"));
      expect(written).toMatchObject({ sources: { ipv4: `${cloudflare.url}/ips-v4`, ipv6: `${cloudflare.url}/ips-v6` }, ipv4: ["173.245.48.0/20", "103.21.244.0/22", "203.0.113.0/24"], ipv6: ["2400:cb00::/32", "2606:4700::/32"] });
      expect(written.date).toBe(new Date().toISOString().slice(0, 10));
      ws.environment("refreshed", "example");
      const planned = await ws.run("plan", "--env", "refreshed");
      expect(planned.out).toContain("in tcp port 443 from 103.21.244.0/22, 173.245.48.0/20, 203.0.113.0/24, 2400:cb00::/32, 2606:4700::/32 (HTTPS from Cloudflare (Traefik))");

      // An answer that is no list of ranges leaves the file as it was.
      served.v4 = "<html>maintenance</html>\n";
      const broken = await ws.run("cloudflare-ips");
      expect(broken.code).toBe(1);
      expect(broken.err).toContain(`${cloudflare.url}/ips-v4 answered 1 line that is no ipv4 range`);
      served.v4 = "0.0.0.0/0\n";
      expect((await ws.run("cloudflare-ips")).err).toContain("that is no ipv4 range");
      served.status = 503;
      expect((await ws.run("cloudflare-ips")).err).toContain(`${cloudflare.url}/ips-v4 answered HTTP 503: the file is left as it is`);
      expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(written);
    } finally {
      delete ws.env.INFRA_CLOUDFLARE_IPS_FILE;
      delete ws.env.INFRA_CLOUDFLARE_IPS_URL;
      await cloudflare.close();
    }
  });

  it("refuses without HCLOUD_TOKEN, naming it", async () => {
    ws.environment("example", "example");
    const saved = ws.env.HCLOUD_TOKEN;
    delete ws.env.HCLOUD_TOKEN;
    try {
      const result = await ws.run("plan", "--env", "example");
      expect(result.code).toBe(1);
      expect(result.err).toContain("HCLOUD_TOKEN is not set");
    } finally {
      ws.env.HCLOUD_TOKEN = saved;
    }
  });

  it("runs as `npm run infra` does (tsx), with terraform's exit code for pending changes", async () => {
    ws.environment("spawned", "example");
    const tsx = join(REPOSITORY_ROOT, "node_modules", ".bin", "tsx");
    // Asynchronously: the Hetzner fake answers from this process.
    const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(tsx, ["infra/cli.ts", "plan", "--env", "spawned"], { cwd: REPOSITORY_ROOT, env: ws.env, encoding: "utf8" }, (_error, stdout, stderr) => resolve({ status: child.exitCode, stdout, stderr }));
    });
    expect(result.status, result.stderr).toBe(2);
    expect(result.stdout).toContain("+ create server edge-ops-spawned-1");
  });
});
