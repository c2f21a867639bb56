// The infra CLI end to end against the Hetzner fake and the fake SSH program (which resolves IPs to
// the fake's servers and plays Docker Swarm): plan, apply, a no-op second apply, deploy, the backup
// route (backup user, BACKUP_NETWORK_ID, backup-targets), status, destroy; a failure half-way
// through apply finished by the next apply; drift; backup-image.
import { execFile, spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { backupAccessScript, backupTargetsSchema, HOST_KEY_COMMAND } from "../../infra/backup-route.ts";
import { loadEnvironment } from "../../infra/config.ts";
import { createFakeSshState, type FakeSshStateHandle } from "./fakes/fake-ssh-state.ts";
import { FAKE_HCLOUD_TOKEN, startFakeHetzner } from "./fakes/hetzner.ts";
import { ed25519PublicKey, infraWorkspace, REPOSITORY_ROOT, uniqueEnvironment, type InfraWorkspace } from "./support/infra.ts";

const hetzner = await startFakeHetzner({ actionMs: 30 }, 0);
afterAll(() => hetzner.close());

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
const S3_BACKUP_KEY = { accessKey: "backupAK7Q", secretKey: "backup-secret-K4v" };
const s3Config = (backupActions: string[]) =>
  JSON.stringify({
    identities: [
      { name: "app", credentials: [{ accessKey: "appAK2", secretKey: "app-secret-W9" }], actions: ["Admin", "Read", "Write", "List", "Tagging"] },
      { name: "backup", credentials: [S3_BACKUP_KEY], actions: backupActions },
    ],
  });
const SECRETS = {
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
  });

  let applyStartedAt = 0;
  it("applies: labelled resources, the firewall on each server, and a Swarm of three managers", async () => {
    applyStartedAt = await clock();
    ssh.setBoot({ bootCalls: 2, cloudInitCalls: 1 });
    const result = await ws.run("apply", "--env", name, "--yes");
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
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
    const joins = ssh.commands(/^docker swarm join --token/);
    expect(joins.map((record) => record.hostname).sort()).toEqual([`edge-ops-${name}-2`, `edge-ops-${name}-3`]);
    for (const join of joins) expect(join.command).toMatch(new RegExp(`^docker swarm join --token SWMTKN-1-\\S+ ${node1.privateIp!.replaceAll(".", "\\.")}:2377$`));
    const swarm = ssh.swarm()!;
    expect(swarm.managers).toHaveLength(3);
    expect(Object.values(swarm.nodes).map((node) => `${node.hostname}:${node.labels.node}`).sort()).toEqual([1, 2, 3].map((node) => `edge-ops-${name}-${node}:${node}`));
    // The join token never reaches the output.
    expect(`${result.out}${result.err}`).not.toContain(swarm.tokens.manager);
    // Boot: refused connections were retried until cloud-init was done.
    expect(ssh.commands({ match: /^cloud-init status --wait$/, exitCode: 255 }).length).toBeGreaterThanOrEqual(3);
    expect(result.out).toMatch(/Hetzner API: \d+ requests/);
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
    expect(creates).toHaveLength(11);
    for (const record of creates) expect(record.stdin).toMatch(/^<redacted \d+ bytes>$/);
    const deploys = records.filter((record) => record.command.startsWith("docker stack deploy"));
    expect(deploys.map((record) => record.command)).toEqual(["core", "apps", "monitoring"].map((stack) => `docker stack deploy --prune --with-registry-auth --detach=false -c - ${stack}`));
    expect(records.findIndex((record) => record.command.startsWith("docker stack deploy"))).toBeGreaterThan(records.findLastIndex((record) => record.command.startsWith("docker secret create")));
    // The monitoring stack's configs, versioned by content, created before any stack that names them.
    const configCreates = records.filter((record) => record.command.startsWith("docker config create"));
    expect(configCreates.map((record) => record.command.split(" ").at(-2)?.replace(/_[0-9a-f]{12}$/, "")).sort()).toEqual(
      ["alertmanager_yml", "alloy_config", "grafana_dashboard_edge_ops", "grafana_dashboards", "grafana_datasources", "loki_yml", "prometheus_rules", "prometheus_yml"].sort(),
    );
    expect(records.findIndex((record) => record.command.startsWith("docker stack deploy"))).toBeGreaterThan(records.findLastIndex((record) => record.command.startsWith("docker config create")));
    const prometheusConfig = configCreates.find((record) => / prometheus_yml_[0-9a-f]{12} -$/.test(record.command))!;
    expect(prometheusConfig.stdin).toContain('- targets: ["edge.example.com"]');
    expect(result.out).toContain("11 new docker secrets, 8 new docker configs.");
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
    for (const value of Object.values(SECRETS)) expect(everything).not.toContain(value);
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
    expect(ssh.commands().slice(before).filter((record) => /^docker (secret|config) create/.test(record.command))).toEqual([]);
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
    expect(backupTargetsSchema.safeParse(targets).success).toBe(true);
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

  it("destroy deletes only what is labelled, and verifies nothing labelled is left", async () => {
    const bystander = await hetznerApi("POST", "/servers", { name: `bystander-${name}`, server_type: "cx23", image: "debian-12", location: "nbg1", labels: { "managed-by": "edge-ops", env: `${name}-other` } });
    const result = await ws.run("destroy", "--env", name, "--yes");
    expect(result.code, `${result.out}\n${result.err}`).toBe(0);
    expect(result.out).toContain(`Destroyed: nothing labelled managed-by=edge-ops,env=${name} remains.`);
    expect(await fakeServers(selector)).toEqual([]);
    for (const kind of ["volumes", "firewalls", "placement_groups", "networks", "ssh_keys"]) {
      expect((await hetznerApi("GET", `/${kind}?label_selector=${encodeURIComponent(selector)}`))[kind], kind).toEqual([]);
    }
    expect((await hetznerApi("GET", `/servers/${bystander.server.id}`)).server.name).toBe(`bystander-${name}`);
    const again = await ws.run("plan", "--env", name);
    expect(again.code).toBe(2);
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
  });
});

describe("drift", { timeout: 30_000 }, () => {
  const { ws } = workspace();
  const name = uniqueEnvironment("drift");
  beforeAll(() => ws.environment(name, "example", (document) => (document.stacks = [])));

  it("a firewall changed by hand is planned as an update and set back by one call", async () => {
    expect((await ws.run("apply", "--env", name, "--yes")).code).toBe(0);
    const [firewall] = (await hetznerApi("GET", `/firewalls?label_selector=${encodeURIComponent(`managed-by=edge-ops,env=${name}`)}`)).firewalls;
    await hetznerApi("POST", `/firewalls/${firewall.id}/actions/set_rules`, { rules: [{ direction: "in", protocol: "tcp", port: "2375", source_ips: ["0.0.0.0/0"] }] });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const plan = await ws.run("plan", "--env", name);
    expect(plan.code).toBe(2);
    expect(plan.out).toContain(`~ update firewall edge-ops-${name}`);
    const startedAt = await clock();
    expect((await ws.run("apply", "--env", name, "--yes")).code).toBe(0);
    expect(mutating(await requestsSince(startedAt)).map((request) => request.path)).toEqual([`/v1/firewalls/${firewall.id}/actions/set_rules`]);
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

describe("the command line", { timeout: 30_000 }, () => {
  const { ws } = workspace();

  it("explains usage errors", async () => {
    expect((await ws.run("plan")).err).toContain("--env <name> is required");
    expect((await ws.run("launch", "--env", "dev")).err).toContain("expected one command of plan, apply, destroy, status, deploy, backup-image, backup-targets");
    expect((await ws.run("plan", "--env", "dev", "--force")).err).toContain("Unknown option '--force'");
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
