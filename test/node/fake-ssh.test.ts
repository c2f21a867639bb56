// The fake SSH program (test/node/fakes/fake-ssh) that the infra CLI's tests run instead of
// OpenSSH: hosts resolved through the Hetzner fake, sshd and cloud-init booting, a Docker Swarm
// (init/join, the Engine API's join over curl, nodes, demotion and removal with swarmkit's quorum
// rule, labels, secrets and configs with their in-use checks, stacks, service inspect), faults,
// records (argv and environment names), the state lock and ssh's options.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createFakeSshState, FAKE_SSH_PROGRAM, type FakeSshStateHandle } from "./fakes/fake-ssh-state.ts";
import { FAKE_HCLOUD_TOKEN, startFakeHetzner } from "./fakes/hetzner.ts";

const hetzner = await startFakeHetzner({ actionMs: 20 }, 0);
afterAll(async () => {
  await hetzner.close();
});

async function api(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${hetzner.url}/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${FAKE_HCLOUD_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text === "" ? undefined : JSON.parse(text);
}

async function fakeServers(name?: string): Promise<{ id: number; name: string; status: string }[]> {
  const response = await fetch(`${hetzner.url}/__fake/servers${name === undefined ? "" : `?name=${encodeURIComponent(name)}`}`);
  return (await response.json()) as { id: number; name: string; status: string }[];
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

type Host = { id: number; name: string; ip: string; privateIp: string };

let clusters = 0;
/** Three running servers on one private network, named `<prefix>-<n>-{1,2,3}`. */
async function createServers(prefix: string): Promise<Host[]> {
  const unique = `${prefix}-${process.pid}-${++clusters}`;
  const { network } = await api("POST", "/networks", {
    name: `net-${unique}`,
    ip_range: "10.0.0.0/16",
    subnets: [{ type: "cloud", network_zone: "eu-central", ip_range: "10.0.1.0/24" }],
  });
  const hosts: Host[] = [];
  for (const n of [1, 2, 3]) {
    const { server } = await api("POST", "/servers", { name: `${unique}-${n}`, server_type: "cx23", image: "debian-12", location: "nbg1", networks: [network.id] });
    hosts.push({ id: server.id, name: server.name, ip: server.public_net.ipv4.ip, privateIp: server.private_net[0].ip });
  }
  await until("the servers to run", async () => {
    const servers = await fakeServers();
    return hosts.every((host) => servers.find((server) => server.id === host.id)?.status === "running");
  });
  return hosts;
}

type Run = { code: number; stdout: string; stderr: string; ms: number };

function runFake(state: FakeSshStateHandle, args: string[], stdin?: string, extraEnv: Record<string, string> = {}): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(FAKE_SSH_PROGRAM, args, { env: { ...process.env, ...state.env, FAKE_HETZNER_URL: hetzner.url, ...extraEnv }, stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8"), ms: performance.now() - started }),
    );
    child.stdin.on("error", () => {});
    child.stdin.end(stdin ?? "");
  });
}

const SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=10"];
const remote = (state: FakeSshStateHandle, ip: string, command: string, stdin?: string) => runFake(state, [...SSH_OPTIONS, `root@${ip}`, command], stdin);

/** A state whose hosts answer at once (no boot, cloud-init done). */
function readyState(): FakeSshStateHandle {
  const state = createFakeSshState();
  state.setBoot({ bootCalls: 0, cloudInitCalls: 0 });
  return state;
}

/** Expects exit 0 and answers stdout. */
async function check(state: FakeSshStateHandle, ip: string, command: string, stdin?: string): Promise<string> {
  const run = await remote(state, ip, command, stdin);
  expect({ command, code: run.code, stderr: run.stderr }).toEqual({ command, code: 0, stderr: "" });
  return run.stdout;
}

/** A 3-manager swarm on fresh servers; answers the hosts and the node id of each. */
async function swarmOf(state: FakeSshStateHandle, prefix: string): Promise<{ hosts: Host[]; ids: string[] }> {
  const hosts = await createServers(prefix);
  const [first, ...others] = hosts as [Host, Host, Host];
  await check(state, first.ip, `docker swarm init --advertise-addr ${first.privateIp} --default-addr-pool 10.20.0.0/16`);
  const token = (await check(state, first.ip, "docker swarm join-token -q manager")).trim();
  for (const host of others) await check(state, host.ip, `docker swarm join --token ${token} ${first.privateIp}:2377`);
  const ids = hosts.map((host) => state.host(host.name)!.nodeId!);
  return { hosts, ids };
}

const NODE_ID = /^[a-z0-9]{25}$/;
const TOKEN = /^SWMTKN-1-[a-z0-9]{50}-[a-z0-9]{25}$/;

describe("connections", { timeout: 30_000 }, () => {
  it("refuses an IP that is no Hetzner server, or a server that is not running, with exit 255", async () => {
    const state = readyState();
    const [host] = await createServers("conn");
    const unknown = await remote(state, "203.0.113.9", "true");
    expect(unknown).toMatchObject({ code: 255, stdout: "", stderr: "ssh: connect to host 203.0.113.9 port 22: Connection refused\n" });
    const named = await remote(state, "not-an-ip.example", "true");
    expect(named).toMatchObject({ code: 255, stderr: "ssh: Could not resolve hostname not-an-ip.example: Name or service not known\n" });
    expect(await remote(state, host!.ip, "echo ok")).toMatchObject({ code: 0, stdout: "ok\n" });

    await api("POST", `/servers/${host!.id}/actions/poweroff`);
    await until("poweroff", async () => (await fakeServers(host!.name))[0]?.status === "off");
    expect(await remote(state, host!.ip, "true")).toMatchObject({ code: 255, stderr: `ssh: connect to host ${host!.ip} port 22: Connection refused\n` });
    expect(state.commands().map((record) => [record.host, record.hostname, record.exitCode])).toEqual([
      ["203.0.113.9", null, 255],
      ["not-an-ip.example", null, 255],
      [host!.ip, host!.name, 0],
      [host!.ip, host!.name, 255],
    ]);
  });

  it("boots: sshd refuses first, then cloud-init still runs (no docker), then the host is ready", async () => {
    const state = createFakeSshState(); // defaults: bootCalls 1, cloudInitCalls 1
    const [a, b, c] = (await createServers("boot")) as [Host, Host, Host];
    const info = "docker info --format '{{.Swarm.LocalNodeState}}'";
    expect(await remote(state, a.ip, info)).toMatchObject({ code: 255, stderr: `ssh: connect to host ${a.ip} port 22: Connection refused\n` });
    expect(await remote(state, a.ip, info)).toMatchObject({ code: 127, stdout: "", stderr: "bash: line 1: docker: command not found\n" });
    expect(await remote(state, a.ip, info)).toMatchObject({ code: 0, stdout: "inactive\n" });
    expect(await remote(state, a.ip, "cloud-init status --wait")).toMatchObject({ code: 0, stdout: "status: done\n" });

    // `cloud-init status --wait` waits for cloud-init: docker is there right after it.
    expect((await remote(state, b.ip, "cloud-init status --wait")).code).toBe(255);
    expect(await remote(state, b.ip, "cloud-init status --wait >/dev/null 2>&1")).toMatchObject({ code: 0, stdout: "\nstatus: done\n" });
    expect(await remote(state, b.ip, info)).toMatchObject({ code: 0, stdout: "inactive\n" });

    // Per host, and the global defaults.
    state.setBoot({ hostname: c.name, bootCalls: 3, cloudInitCalls: 2 });
    for (let i = 0; i < 3; i++) expect((await remote(state, c.ip, "true")).code).toBe(255);
    expect(await remote(state, c.ip, "cloud-init status")).toMatchObject({ code: 0, stdout: "status: running\n" });
    expect((await remote(state, c.ip, info)).code).toBe(127);
    expect(await remote(state, c.ip, info)).toMatchObject({ code: 0, stdout: "inactive\n" });
    expect(await remote(state, c.ip, "cloud-init status")).toMatchObject({ code: 0, stdout: "status: done\n" });
    expect(state.host(c.name)).toMatchObject({ connections: 7, booted: true, commands: 4, cloudInitDone: true });

    const quick = createFakeSshState();
    quick.setBoot({ bootCalls: 0, cloudInitCalls: 0 });
    expect(await remote(quick, a.ip, info)).toMatchObject({ code: 0, stdout: "inactive\n" });
  });

  it("parses OpenSSH options: -o pairs, -i, -p, -l, flags, options after the destination", async () => {
    const state = readyState();
    const [host] = (await createServers("opts")) as [Host];
    const key = join(state.dir, "id_ed25519");
    writeFileSync(key, "not really a key\n");
    const run = await runFake(state, ["-T", "-q", "-oBatchMode=yes", "-o", "UserKnownHostsFile=/dev/null", "-i", key, "-p", "22", `root@${host.ip}`, "-o", "ConnectTimeout=5", "docker", "info", "--format", "'{{.Swarm.LocalNodeState}}'"]);
    expect(run).toMatchObject({ code: 0, stdout: "inactive\n", stderr: "" });
    const [record] = state.commands();
    expect(record).toMatchObject({
      host: host.ip,
      hostname: host.name,
      user: "root",
      options: ["-T", "-q", "-oBatchMode=yes", "-o", "UserKnownHostsFile=/dev/null", "-i", key, "-p", "22", "-o", "ConnectTimeout=5"],
      command: "docker info --format '{{.Swarm.LocalNodeState}}'",
      stdin: null,
      exitCode: 0,
    });

    expect(await runFake(state, ["-l", "root", host.ip, "echo", "hi", "there"])).toMatchObject({ code: 0, stdout: "hi there\n" });
    expect(await runFake(state, [`deploy@${host.ip}`, "true"])).toMatchObject({ code: 255, stderr: `deploy@${host.ip}: Permission denied (publickey).\n` });
    expect(await runFake(state, ["-p", "2222", `root@${host.ip}`, "true"])).toMatchObject({ code: 255, stderr: `ssh: connect to host ${host.ip} port 2222: Connection refused\n` });
    const missingKey = await runFake(state, ["-i", "/nonexistent/key", `root@${host.ip}`, "true"]);
    expect(missingKey).toMatchObject({ code: 0, stderr: "Warning: Identity file /nonexistent/key not accessible: No such file or directory.\n" });
    expect((await runFake(state, ["-o"])).code).toBe(255);
    expect(await runFake(state, ["-T"])).toMatchObject({ code: 255, stderr: expect.stringContaining("usage: ssh") });

    // Shell words: quotes, extra blanks and redirections; anything else is unsupported.
    expect(await remote(state, host.ip, `docker   info  --format   "{{json .Swarm}}"  2>/dev/null`)).toMatchObject({
      code: 0,
      stdout: '{"NodeID":"","NodeAddr":"","LocalNodeState":"inactive","ControlAvailable":false,"Error":"","RemoteManagers":null}\n',
    });
    for (const command of ["docker info | cat", "docker ps", "uptime", "true && true", "docker info --format '{{.Swarm.Nope}}'", "echo $HOME"]) {
      const unsupported = await remote(state, host.ip, command);
      expect(unsupported.code, command).toBe(127);
      expect(unsupported.stderr.split("\n")[0], command).toBe(`fake-ssh: unsupported command: ${command}`);
    }
  });

  it("runs scripts on stdin and records them", async () => {
    const state = readyState();
    const [host] = (await createServers("script")) as [Host];
    const script = "set -eu\napt-get install -y restic\ninstall -m 0755 /dev/stdin /opt/edge-ops/backup-runner.sh\n";
    expect(await remote(state, host.ip, "bash -s", script)).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(await remote(state, host.ip, "sh -s -- a b", "true\n")).toMatchObject({ code: 0 });
    expect(await remote(state, host.ip, "true")).toMatchObject({ code: 0, stdout: "" });
    expect(state.commands().map((record) => [record.command, record.stdin])).toEqual([
      ["bash -s", script],
      ["sh -s -- a b", "true\n"],
      ["true", null],
    ]);
  });

  it("answers each host's own ed25519 host key, as OpenSSH writes the .pub file, and no other file", async () => {
    const state = readyState();
    const [a, b] = (await createServers("hostkey")) as [Host, Host];
    const file = "cat /etc/ssh/ssh_host_ed25519_key.pub";
    const first = await check(state, a.ip, file);
    expect(first).toMatch(new RegExp(`^ssh-ed25519 [A-Za-z0-9+/]+={0,2} root@${a.name}\\n$`));
    // The wire form: string "ssh-ed25519", then a string of the 32-byte key.
    const wire = Buffer.from(first.split(" ")[1]!, "base64");
    expect(wire.readUInt32BE(0)).toBe(11);
    expect(wire.subarray(4, 15).toString()).toBe("ssh-ed25519");
    expect(wire.readUInt32BE(15)).toBe(32);
    expect(wire.length).toBe(51);
    expect(await check(state, a.ip, file)).toBe(first);
    expect(state.host(a.name)!.hostKey).toBe(first.split(" ").slice(0, 2).join(" "));
    expect((await check(state, b.ip, file)).split(" ")[1]).not.toBe(first.split(" ")[1]);
    for (const command of ["cat /etc/shadow", "cat /etc/ssh/ssh_host_ed25519_key"]) expect((await remote(state, a.ip, command)).code, command).toBe(127);
  });
});

describe("swarm", { timeout: 30_000 }, () => {
  it("initialises on one node and joins the others, with docker's errors", async () => {
    const state = readyState();
    const [a, b, c] = (await createServers("swarm")) as [Host, Host, Host];
    const notSystem = await remote(state, a.ip, "docker swarm init --advertise-addr 10.9.9.9");
    expect(notSystem).toMatchObject({ code: 1, stderr: expect.stringMatching(/^Error response from daemon: must specify a listening address because the address to advertise is not recognized as a system address/) });
    const ambiguous = await remote(state, a.ip, "docker swarm init");
    expect(ambiguous).toMatchObject({ code: 1, stderr: expect.stringContaining(`could not choose an IP address to advertise since this system has multiple addresses on different interfaces (${a.privateIp} on ens10 and ${a.ip} on eth0)`) });

    const init = await check(state, a.ip, `docker swarm init --advertise-addr ${a.privateIp} --default-addr-pool 10.20.0.0/16`);
    const nodeId = /^Swarm initialized: current node \(([a-z0-9]+)\) is now a manager\.\n/.exec(init)?.[1];
    expect(nodeId).toMatch(NODE_ID);
    expect(init).toContain(`docker swarm join --token SWMTKN-1-`);
    expect(await remote(state, a.ip, `docker swarm init --advertise-addr ${a.privateIp}`)).toMatchObject({
      code: 1,
      stderr: 'Error response from daemon: This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.\n',
    });

    expect(await remote(state, b.ip, "docker swarm join-token -q manager")).toMatchObject({
      code: 1,
      stderr: 'Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.\n',
    });
    const managerToken = (await check(state, a.ip, "docker swarm join-token -q manager")).trim();
    const workerToken = (await check(state, a.ip, "docker swarm join-token worker -q")).trim();
    expect(managerToken).toMatch(TOKEN);
    expect(workerToken).toMatch(TOKEN);
    expect(workerToken).not.toBe(managerToken);
    expect(workerToken.slice(0, 60)).toBe(managerToken.slice(0, 60)); // the same CA digest

    const badToken = await remote(state, b.ip, `docker swarm join --token SWMTKN-1-${"x".repeat(50)}-${"y".repeat(25)} ${a.privateIp}:2377`);
    expect(badToken).toMatchObject({ code: 1, stderr: "Error response from daemon: rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster\n" });
    for (const address of [`${a.ip}:2377`, `${b.privateIp}:2377`, `${a.privateIp}:2378`]) {
      const wrongManager = await remote(state, b.ip, `docker swarm join --token ${managerToken} ${address}`);
      expect(wrongManager.code, address).toBe(1);
      expect(wrongManager.stderr, address).toMatch(/^Error response from daemon: Timeout was reached before node joined/);
    }
    expect(await remote(state, b.ip, `docker swarm join --token ${managerToken} ${a.privateIp}:2377`)).toMatchObject({ code: 0, stdout: "This node joined a swarm as a manager.\n" });
    expect(await remote(state, b.ip, `docker swarm join --token ${managerToken} ${a.privateIp}:2377`)).toMatchObject({ code: 1, stderr: expect.stringContaining("This node is already part of a swarm") });
    // A second manager's address works too; the worker token makes a worker.
    expect(await remote(state, c.ip, `docker swarm join --token ${workerToken} ${b.privateIp}:2377`)).toMatchObject({ code: 0, stdout: "This node joined a swarm as a worker.\n" });
    expect(await remote(state, c.ip, "docker node ls --format '{{json .}}'")).toMatchObject({ code: 1, stderr: expect.stringContaining("Worker nodes can't be used to view or modify cluster state") });

    expect(await check(state, b.ip, "docker info --format '{{.Swarm.LocalNodeState}}'")).toBe("active\n");
    const swarmJson = JSON.parse(await check(state, b.ip, "docker info --format '{{json .Swarm}}'"));
    expect(swarmJson).toMatchObject({ NodeID: state.host(b.name)!.nodeId, NodeAddr: b.privateIp, LocalNodeState: "active", ControlAvailable: true, Nodes: 3, Managers: 2 });
    expect(await check(state, c.ip, "docker info --format '{{.Swarm.NodeID}} {{.Swarm.ControlAvailable}}'")).toBe(`${state.host(c.name)!.nodeId} false\n`);

    const swarm = state.swarm()!;
    expect(swarm.managers).toEqual([nodeId, state.host(b.name)!.nodeId]);
    expect(swarm.tokens).toEqual({ manager: managerToken, worker: workerToken });
    expect(swarm.defaultAddrPool).toEqual(["10.20.0.0/16"]);
    expect(Object.values(swarm.nodes).map((node) => [node.hostname, node.addr, node.role])).toEqual([
      [a.name, a.privateIp, "manager"],
      [b.name, b.privateIp, "manager"],
      [c.name, c.privateIp, "worker"],
    ]);
  });

  it("lists nodes as JSON lines, and shows a deleted server's node as down", async () => {
    const state = readyState();
    const { hosts, ids } = await swarmOf(state, "nodes");
    const [a, b, c] = hosts as [Host, Host, Host];
    const lines = (await check(state, b.ip, "docker node ls --format '{{json .}}'")).trimEnd().split("\n");
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { Availability: "Active", EngineVersion: "27.5.1", Hostname: a.name, ID: ids[0], ManagerStatus: "Leader", Self: false, Status: "Ready", TLSStatus: "Ready" },
      { Availability: "Active", EngineVersion: "27.5.1", Hostname: b.name, ID: ids[1], ManagerStatus: "Reachable", Self: true, Status: "Ready", TLSStatus: "Ready" },
      { Availability: "Active", EngineVersion: "27.5.1", Hostname: c.name, ID: ids[2], ManagerStatus: "Reachable", Self: false, Status: "Ready", TLSStatus: "Ready" },
    ]);
    expect(lines[0]).toBe(JSON.stringify(JSON.parse(lines[0]!))); // compact, keys in docker's order
    expect(await check(state, a.ip, "docker node ls -q")).toBe(`${ids.join("\n")}\n`);

    await api("DELETE", `/servers/${c.id}`);
    await until("the server to go", async () => (await fakeServers(c.name)).length === 0);
    expect((await remote(state, c.ip, "true")).code).toBe(255);
    const after = (await check(state, a.ip, "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'")).trimEnd().split("\n");
    expect(after).toEqual([`${a.name} Ready Leader`, `${b.name} Ready Reachable`, `${c.name} Down Unreachable`]);
  });

  it("sets and reads node labels", async () => {
    const state = readyState();
    const { hosts, ids } = await swarmOf(state, "labels");
    const [a, b] = hosts as [Host, Host, Host];
    expect(await check(state, a.ip, `docker node inspect ${ids[1]} --format '{{json .Spec.Labels}}'`)).toBe("{}\n");
    expect(await check(state, a.ip, `docker node update --label-add node=2 --label-add zone=nbg1 ${ids[1]}`)).toBe(`${ids[1]}\n`);
    expect(await check(state, a.ip, `docker node update --label-add=node=3 ${hosts[2]!.name}`)).toBe(`${hosts[2]!.name}\n`);
    expect(await check(state, a.ip, `docker node inspect ${ids[1]} --format '{{json .Spec.Labels}}'`)).toBe('{"node":"2","zone":"nbg1"}\n');
    expect(await check(state, b.ip, "docker node inspect self --format '{{json .Spec.Labels}}'")).toBe('{"node":"2","zone":"nbg1"}\n');
    expect(await check(state, a.ip, `docker node inspect ${hosts[2]!.name} --format '{{.Spec.Labels.node}} {{.Spec.Labels.missing}} {{.Status.Addr}}'`)).toBe(`3 <no value> ${hosts[2]!.privateIp}\n`);
    expect(await remote(state, a.ip, "docker node update --label-add node=9 nope")).toMatchObject({ code: 1, stderr: "Error: No such node: nope\n" });
    expect(state.swarm()!.nodes[ids[1]!]!.labels).toEqual({ node: "2", zone: "nbg1" });
    const inspected = JSON.parse(await check(state, a.ip, `docker node inspect ${ids[0]}`));
    expect(inspected).toMatchObject([{ ID: ids[0], Spec: { Role: "manager", Availability: "active" }, Description: { Hostname: a.name }, ManagerStatus: { Leader: true } }]);
  });

  it("creates secrets from stdin without keeping their values, refuses duplicates and removes them", async () => {
    const state = readyState();
    const { hosts } = await swarmOf(state, "secrets");
    const [a, b] = hosts as [Host, Host, Host];
    const value = "s3cr3t-value-that-must-not-leak";
    const id = (await check(state, a.ip, "docker secret create --label managed-by=edge-ops --label edge-ops.secret=db db_password_1 -", value)).trim();
    expect(id).toMatch(NODE_ID);
    const duplicate = await remote(state, b.ip, "docker secret create db_password_1 -", "other");
    expect(duplicate).toMatchObject({ code: 1, stderr: "Error response from daemon: rpc error: code = AlreadyExists desc = secret db_password_1 already exists\n" });
    expect(await remote(state, a.ip, "docker secret create empty_one -", "")).toMatchObject({ code: 1, stderr: expect.stringContaining("secret data must be larger than 0") });
    await check(state, a.ip, "docker secret create api_key -", "k");
    expect(await check(state, b.ip, "docker secret ls --format '{{.Name}}'")).toBe("api_key\ndb_password_1\n");
    expect(state.swarm()!.secrets.db_password_1).toMatchObject({ id, labels: { "managed-by": "edge-ops", "edge-ops.secret": "db" }, dataSha256: createHash("sha256").update(value).digest("hex") });

    const created = state.commands(/^docker secret create/);
    expect(created.map((record) => record.stdin)).toEqual([`<redacted ${value.length} bytes>`, "<redacted 5 bytes>", null, "<redacted 1 bytes>"]);
    expect(readFileSync(state.statePath, "utf8")).not.toContain(value);

    expect(await remote(state, a.ip, "docker secret rm nope")).toMatchObject({ code: 1, stderr: "Error: No such secret: nope\n" });
    expect(await check(state, a.ip, "docker secret rm api_key")).toBe("api_key\n");
    expect(await check(state, a.ip, "docker secret ls --format '{{.Name}}'")).toBe("db_password_1\n");
    expect(await remote(state, hosts[2]!.ip, "docker secret ls --format '{{.Name}}'")).toMatchObject({ code: 0 }); // all three are managers
  });

  it("deploys stacks from stdin: missing secrets and networks are rejected, services listed, unhealthy ones shown", async () => {
    const state = readyState();
    const { hosts } = await swarmOf(state, "stacks");
    const [a, b] = hosts as [Host, Host, Host];
    const core = [
      'version: "3.9"',
      "x-logging: &logging",
      "  driver: json-file",
      "services:",
      "  # the edge",
      "  traefik:",
      "    image: traefik:v3.5",
      "    ports:",
      "      - target: 443",
      "        published: 443",
      "        mode: host",
      "    deploy:",
      "      mode: global",
      "    networks: [public]",
      "  app:",
      "    image: ghcr.io/example/app:1.2.3",
      "    command:",
      "      - /bin/sh",
      "      - -c",
      "      - |",
      "        replicas: not this",
      "        exec app",
      "    secrets:",
      "      - db_password",
      "      - source: api_key",
      "        target: api_key",
      "    deploy:",
      "      replicas: 2",
      "networks:",
      "  public:",
      "    name: edge-public",
      "secrets:",
      "  db_password:",
      "    external: true",
      "    name: db_password_v1",
      "  api_key:",
      "    external: true",
      "",
    ].join("\n");
    const deploy = "docker stack deploy --prune --with-registry-auth --detach=false -c - core";
    expect(await remote(state, a.ip, deploy, core)).toMatchObject({ code: 1, stderr: "service app: secret not found: db_password_v1\n" });
    await check(state, a.ip, "docker secret create db_password_v1 -", "pw");
    expect(await remote(state, a.ip, deploy, core)).toMatchObject({ code: 1, stderr: "service app: secret not found: api_key\n" });
    await check(state, a.ip, "docker secret create api_key -", "key");
    expect(await check(state, a.ip, deploy, core)).toBe("Creating network core_default\nCreating network edge-public\nCreating service core_traefik\nCreating service core_app\n");

    const apps = ["services:", "  web:", "    image: nginx:1.29", "    networks:", "      - public", "networks:", "  public:", "    external: true", "    name: edge-public", ""].join("\n");
    expect(await check(state, b.ip, "docker stack deploy -c - apps", apps)).toBe("Creating service apps_web\n");
    const orphan = apps.replace("edge-public", "nowhere");
    expect(await remote(state, b.ip, "docker stack deploy -c - orphan", orphan)).toMatchObject({ code: 1, stderr: expect.stringContaining('network "nowhere" is declared as external, but could not be found') });

    expect((await check(state, b.ip, "docker stack ls --format '{{json .}}'")).trimEnd().split("\n").map((line) => JSON.parse(line))).toEqual([
      { Name: "apps", Namespace: "apps", Orchestrator: "Swarm", Services: "1" },
      { Name: "core", Namespace: "core", Orchestrator: "Swarm", Services: "2" },
    ]);
    const services = async () => (await check(state, hosts[2]!.ip, "docker stack services core --format '{{json .}}'")).trimEnd().split("\n").map((line) => JSON.parse(line));
    expect(await services()).toEqual([
      { ID: expect.stringMatching(/^[a-z0-9]{12}$/), Image: "ghcr.io/example/app:1.2.3", Mode: "replicated", Name: "core_app", Ports: "", Replicas: "2/2" },
      { ID: expect.stringMatching(/^[a-z0-9]{12}$/), Image: "traefik:v3.5", Mode: "global", Name: "core_traefik", Ports: "*:443->443/tcp", Replicas: "3/3" },
    ]);
    state.setServiceHealth("core_traefik", "1/3");
    expect((await services()).map((service) => service.Replicas)).toEqual(["2/2", "1/3"]);
    expect(await remote(state, a.ip, "docker stack services nothing --format '{{json .}}'")).toMatchObject({ code: 0, stdout: "", stderr: "Nothing found in stack: nothing\n" });

    // In use by a deployed stack: the secret stays.
    expect(await remote(state, a.ip, "docker secret rm db_password_v1")).toMatchObject({
      code: 1,
      stderr: "Error response from daemon: rpc error: code = InvalidArgument desc = secret 'db_password_v1' is in use by the following service: core_app\n",
    });
    // Redeploy: updates; --prune removes what the file no longer has.
    const smaller = core.replace(/ {2}app:[\s\S]*?replicas: 2\n/, "");
    expect(await check(state, a.ip, deploy, smaller)).toBe("Updating service core_traefik\nRemoving service core_app\n");
    expect(Object.keys(state.swarm()!.stacks.core!.services)).toEqual(["core_traefik"]);
    expect(state.swarm()!.stacks.core!.file).toBe(smaller);
    expect(state.commands(/^docker stack deploy/).at(-1)!.stdin).toBe(smaller);

    expect(await remote(state, a.ip, "docker stack deploy -c /srv/core.yml core")).toMatchObject({ code: 127 });
    const inactive = createFakeSshState();
    inactive.setBoot({ bootCalls: 0, cloudInitCalls: 0 });
    const [stranger] = await createServers("stranger");
    expect(await remote(inactive, stranger!.ip, "docker stack deploy -c - core", core)).toMatchObject({ code: 1, stderr: expect.stringContaining("This node is not a swarm manager") });
  });
});

describe("what infra needs to keep the cluster clean", { timeout: 30_000 }, () => {
  const JOIN = "curl --silent --show-error --fail-with-body --unix-socket /var/run/docker.sock --header 'Content-Type: application/json' --data-binary @- http://localhost/swarm/join";

  it("joins through the Engine API with the token on stdin, answers its errors as curl does, and records no token", async () => {
    const state = readyState();
    const [a, b, c] = (await createServers("apijoin")) as [Host, Host, Host];
    await check(state, a.ip, `docker swarm init --advertise-addr ${a.privateIp}`);
    const token = (await check(state, a.ip, "docker swarm join-token -q manager")).trim();
    const request = (host: Host, joinToken: string) => JSON.stringify({ ListenAddr: "0.0.0.0:2377", AdvertiseAddr: host.privateIp, RemoteAddrs: [`${a.privateIp}:2377`], JoinToken: joinToken });
    expect(await remote(state, b.ip, JOIN, request(b, "SWMTKN-1-wrong"))).toMatchObject({
      code: 22,
      stdout: '{"message":"rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster"}\n',
      stderr: "curl: (22) The requested URL returned error: 400\n",
    });
    expect(await remote(state, b.ip, JOIN, request(b, token))).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(await remote(state, b.ip, JOIN, request(b, token))).toMatchObject({ code: 22, stdout: expect.stringContaining("This node is already part of a swarm"), stderr: "curl: (22) The requested URL returned error: 503\n" });
    expect(await remote(state, c.ip, JOIN, request(c, token))).toMatchObject({ code: 0 });
    expect(state.swarm()!.managers).toHaveLength(3);
    expect(Object.values(state.swarm()!.nodes).find((node) => node.hostname === b.name)?.addr).toBe(b.privateIp);
    // Only the Docker socket and only this endpoint.
    expect((await remote(state, b.ip, "curl --unix-socket /var/run/docker.sock http://localhost/containers/json")).code).toBe(127);
    const joins = state.commands(/\/swarm\/join$/);
    expect(joins.map((record) => record.stdin)).toEqual(joins.map((record) => expect.stringMatching(/^<redacted \d+ bytes>$/)));
    expect(JSON.stringify(state.read().records)).not.toContain(token.slice(-25));
  });

  it("records each call's argv and the names, never the values, of its environment", async () => {
    const state = readyState();
    const [host] = (await createServers("argv")) as [Host];
    await runFake(state, ["-o", "BatchMode=yes", `root@${host!.ip}`, "echo", "hi"], undefined, { SOME_TOKEN: "value-that-stays-private" });
    const [record] = state.commands(/^echo hi$/);
    expect(record!.argv).toEqual(["-o", "BatchMode=yes", `root@${host!.ip}`, "echo", "hi"]);
    expect(record!.environment).toContain("SOME_TOKEN");
    expect(readFileSync(state.statePath, "utf8")).not.toContain("value-that-stays-private");
  });

  it("demotes and removes a manager whose server is gone, and refuses a demotion that would lose the quorum", async () => {
    const state = readyState();
    const { hosts, ids } = await swarmOf(state, "demote");
    const [a, b, c] = hosts as [Host, Host, Host];
    await api("DELETE", `/servers/${c.id}`);
    await until("the server to go", async () => (await fakeServers(c.name)).length === 0);
    // With c down, demoting b would leave a alone of the two others: short of a quorum of 2.
    expect(await remote(state, a.ip, `docker node demote ${ids[1]}`)).toMatchObject({
      code: 1,
      stderr: "Error response from daemon: rpc error: code = FailedPrecondition desc = can't remove member from the raft: this would result in a loss of quorum\n",
    });
    expect(await remote(state, a.ip, `docker node rm ${ids[2]}`)).toMatchObject({ code: 1, stderr: expect.stringContaining("must be demoted to worker before removal") });
    expect(await check(state, a.ip, `docker node demote ${ids[2]}`)).toBe(`Manager ${ids[2]} demoted in the swarm.\n`);
    expect(await check(state, a.ip, `docker node rm ${ids[2]}`)).toBe(`${ids[2]}\n`);
    expect(state.swarm()!.managers).toEqual([ids[0], ids[1]]);
    expect((await check(state, b.ip, "docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'")).trimEnd().split("\n")).toEqual([`${a.name} Ready Leader`, `${b.name} Ready Reachable`]);
  });

  it("lists secrets and configs by label, inspects services' references, and removes only what no service uses", async () => {
    const state = readyState();
    const { hosts } = await swarmOf(state, "unused");
    const [a] = hosts as [Host, Host, Host];
    await check(state, a.ip, "docker secret create --label managed-by=edge-ops db_v1 -", "one");
    await check(state, a.ip, "docker secret create --label managed-by=edge-ops db_v2 -", "two");
    await check(state, a.ip, "docker secret create theirs -", "three");
    await check(state, a.ip, "docker config create --label managed-by=edge-ops conf_v1 -", "a: 1");
    await check(state, a.ip, "docker config create --label managed-by=edge-ops conf_v2 -", "a: 2");
    const stack = (secret: string, config: string) =>
      ["services:", "  app:", "    image: example/app:1.0.0", "    secrets:", "      - db", "    configs:", "      - source: conf", "        target: /etc/app.yml", "  other:", "    image: example/other:1.0.0", "secrets:", "  db:", "    external: true", `    name: ${secret}`, "configs:", "  conf:", "    external: true", `    name: ${config}`, ""].join("\n");
    await check(state, a.ip, "docker stack deploy -c - app", stack("db_v1", "conf_v1"));
    await check(state, a.ip, "docker stack deploy -c - app", stack("db_v2", "conf_v2"));

    expect(await check(state, a.ip, "docker secret ls --filter label=managed-by=edge-ops --format '{{.Name}} {{.Labels}}'")).toBe("db_v1 managed-by=edge-ops\ndb_v2 managed-by=edge-ops\n");
    expect(await check(state, a.ip, "docker config ls --filter label=managed-by=edge-ops --format '{{.Name}}'")).toBe("conf_v1\nconf_v2\n");
    const ids = (await check(state, a.ip, "docker service ls --quiet")).trim().split("\n");
    expect(ids).toHaveLength(2);
    const refs = (await check(state, a.ip, `docker service inspect --format '[{{json .Spec.TaskTemplate.ContainerSpec.Secrets}},{{json .Spec.TaskTemplate.ContainerSpec.Configs}}]' ${ids.join(" ")}`))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const secretsById = state.swarm()!.secrets;
    expect(refs).toEqual([
      [[{ File: { Name: "db", UID: "0", GID: "0", Mode: 292 }, SecretID: secretsById.db_v2!.id, SecretName: "db_v2" }], [{ File: { Name: "/etc/app.yml", UID: "0", GID: "0", Mode: 292 }, ConfigID: state.swarm()!.configs!.conf_v2!.id, ConfigName: "conf_v2" }]],
      [null, null],
    ]);
    const full = JSON.parse(await check(state, a.ip, `docker service inspect ${ids[1]}`)) as { Spec: { Name: string; TaskTemplate: { ContainerSpec: Record<string, unknown> } } }[];
    expect(full[0]!.Spec.Name).toBe("app_other");
    expect(full[0]!.Spec.TaskTemplate.ContainerSpec).not.toHaveProperty("Secrets"); // omitempty, as docker prints it
    expect(await remote(state, a.ip, "docker service inspect nope")).toMatchObject({ code: 1, stderr: "no such service: nope\n" });

    expect(await remote(state, a.ip, "docker secret rm db_v2")).toMatchObject({ code: 1, stderr: "Error response from daemon: rpc error: code = InvalidArgument desc = secret 'db_v2' is in use by the following service: app_app\n" });
    expect(await remote(state, a.ip, "docker config rm conf_v2")).toMatchObject({ code: 1, stderr: "Error response from daemon: rpc error: code = InvalidArgument desc = config 'conf_v2' is in use by the following service: app_app\n" });
    expect(await check(state, a.ip, "docker secret rm db_v1")).toBe("db_v1\n");
    expect(await check(state, a.ip, "docker config rm conf_v1")).toBe("conf_v1\n");
    expect(Object.keys(state.swarm()!.secrets).sort()).toEqual(["db_v2", "theirs"]);
    expect(Object.keys(state.swarm()!.configs!)).toEqual(["conf_v2"]);
  });

  it("polls cloud-init: running while it runs, then done", async () => {
    const state = createFakeSshState();
    state.setBoot({ bootCalls: 0, cloudInitCalls: 2 });
    const [host] = (await createServers("cloudinit")) as [Host];
    expect(await check(state, host!.ip, "cloud-init status")).toBe("status: running\n");
    expect(await check(state, host!.ip, "cloud-init status")).toBe("status: running\n");
    expect(await check(state, host!.ip, "cloud-init status")).toBe("status: done\n");
  });
});

describe("faults, records and the lock", { timeout: 30_000 }, () => {
  it("answers armed faults instead of running the command", async () => {
    const state = readyState();
    const [a, b] = (await createServers("faults")) as [Host, Host, Host];
    state.armFault({ match: "^docker swarm init", exitCode: 255, count: 2 });
    state.armFault({ hostname: b.name, match: "cloud-init", exitCode: 1, stdout: "partial\n", stderr: "boom\n" });
    const init = `docker swarm init --advertise-addr ${a.privateIp}`;
    expect(await remote(state, a.ip, init)).toMatchObject({ code: 255, stderr: `Connection to ${a.ip} closed by remote host.\n` });
    expect((await remote(state, a.ip, init)).code).toBe(255);
    expect(state.host(a.name)!.localNodeState).toBe("inactive");
    expect((await remote(state, a.ip, init)).code).toBe(0);
    expect(await remote(state, a.ip, "cloud-init status --wait")).toMatchObject({ code: 0 }); // another host
    expect(await remote(state, b.ip, "cloud-init status --wait")).toMatchObject({ code: 1, stdout: "partial\n", stderr: "boom\n" });
    expect(await remote(state, b.ip, "cloud-init status --wait")).toMatchObject({ code: 0 });
    expect(state.read().faults).toEqual([]);
    expect(state.commands({ hostname: a.name }).map((record) => [record.exitCode, record.fault ?? false])).toEqual([
      [255, true],
      [255, true],
      [0, false],
      [0, false],
    ]);
    expect(state.commands({ hostname: b.name, exitCode: 1 })).toHaveLength(1);
  });

  it("keeps every record when calls run in parallel", async () => {
    const state = readyState();
    const hosts = await createServers("parallel");
    const runs = await Promise.all(hosts.flatMap((host) => [1, 2, 3].map((n) => remote(state, host.ip, `echo ${host.name} ${n}`))));
    expect(runs.map((run) => run.code)).toEqual(Array(9).fill(0));
    const records = state.commands();
    expect(records).toHaveLength(9);
    expect(records.map((record) => record.command).sort()).toEqual(hosts.flatMap((host) => [1, 2, 3].map((n) => `echo ${host.name} ${n}`)).sort());
    for (const host of hosts) expect(state.host(host.name)).toMatchObject({ connections: 3, commands: 3 });
    // Three managers joining at once, as the CLI may do.
    await check(state, hosts[0]!.ip, `docker swarm init --advertise-addr ${hosts[0]!.privateIp}`);
    const token = (await check(state, hosts[0]!.ip, "docker swarm join-token -q manager")).trim();
    const joins = await Promise.all(hosts.slice(1).map((host) => remote(state, host.ip, `docker swarm join --token ${token} ${hosts[0]!.privateIp}:2377`)));
    expect(joins.map((run) => run.code)).toEqual([0, 0]);
    expect(state.swarm()!.managers).toHaveLength(3);
  });

  it("takes over a stale lock left by a crashed call", async () => {
    const state = readyState();
    const [host] = (await createServers("stale")) as [Host];
    mkdirSync(`${state.statePath}.lock`);
    const old = new Date(Date.now() - 11_000);
    utimesSync(`${state.statePath}.lock`, old, old);
    expect(await remote(state, host.ip, "echo ok")).toMatchObject({ code: 0, stdout: "ok\n" });
    expect(existsSync(`${state.statePath}.lock`)).toBe(false);
    expect(state.commands()).toHaveLength(1);
  });

  it("asks the rate-limited API only when a server's addresses are not known yet", async () => {
    const state = readyState();
    const apiReads = async () => {
      const response = await fetch(`${hetzner.url}/__fake/requests?method=GET&path=${encodeURIComponent("^/v1/servers$")}`);
      return ((await response.json()) as unknown[]).length;
    };
    await fetch(`${hetzner.url}/__fake/requests?path=.`, { method: "DELETE" });
    const hosts = await createServers("api");
    await check(state, hosts[0]!.ip, "true");
    // The first call read every page of servers once (50 a page: the fake holds every test's servers).
    const pages = Math.ceil(((await (await fetch(`${hetzner.url}/__fake/servers`)).json()) as unknown[]).length / 50);
    expect(await apiReads()).toBe(pages);
    for (const host of hosts.slice(1)) await check(state, host.ip, "true");
    await check(state, hosts[0]!.ip, "docker info --format '{{.Swarm.LocalNodeState}}'");
    expect(await apiReads()).toBe(pages); // the first call learned all three
    expect(Object.keys(state.read().servers)).toEqual(expect.arrayContaining(hosts.map((host) => String(host.id))));
    await remote(state, "203.0.113.77", "true"); // unknown IP: nothing new to learn, no API call
    expect(await apiReads()).toBe(pages);
  });
});
