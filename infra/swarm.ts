// The Swarm on the three nodes, through the SSH program only: wait for cloud-init, read each node's
// state, `docker swarm init` on node 1 when no node is in a swarm yet, join the others as managers,
// label the nodes for placement. Every step reads first, so a second run changes nothing.
import type { Node } from "./apply.ts";
import type { Environment } from "./config.ts";
import type { Ssh } from "./ssh.ts";

export type SwarmContext = {
  ssh: Ssh;
  environment: Environment;
  log: (line: string) => void;
  /** How long a node may take to answer SSH and finish cloud-init. */
  readyTimeoutMs: number;
  pollIntervalMs: number;
  sleep: (ms: number) => Promise<void>;
};

export const SWARM_STATE_COMMAND = "docker info --format '{{.Swarm.LocalNodeState}}'";
export const NODE_LIST_COMMAND = "docker node ls --format '{{json .}}'";

/** Waits until the node answers over SSH and cloud-init is done (exit 0; 2 = done with warnings). */
export async function waitReady(context: SwarmContext, node: Node): Promise<void> {
  const deadline = Date.now() + context.readyTimeoutMs;
  for (;;) {
    const result = await context.ssh.run(node.publicIp, "cloud-init status --wait");
    if (result.exitCode === 0) return;
    if (result.exitCode === 2) {
      context.log(`! ${node.name}: cloud-init finished with recoverable errors (see /var/log/cloud-init-output.log)`);
      return;
    }
    // 255: no SSH yet (sshd starting, host key not generated).
    if (result.exitCode !== 255) throw new Error(`${node.name}: cloud-init failed (exit ${result.exitCode}); see /var/log/cloud-init-output.log on ${node.publicIp}`);
    if (Date.now() > deadline) throw new Error(`${node.name} (${node.publicIp}) did not answer over SSH within ${Math.round(context.readyTimeoutMs / 1000)} s: ${result.stderr.trim()}`);
    await context.sleep(context.pollIntervalMs);
  }
}

export async function swarmState(context: SwarmContext, node: Node): Promise<string> {
  return (await context.ssh.check(node.publicIp, SWARM_STATE_COMMAND)).trim();
}

export type SwarmNode = { ID: string; Hostname: string; Status: string; Availability: string; ManagerStatus: string };

export async function listSwarmNodes(context: SwarmContext, manager: Node): Promise<SwarmNode[]> {
  const output = await context.ssh.check(manager.publicIp, NODE_LIST_COMMAND);
  return output
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => {
      const entry = JSON.parse(line) as Partial<SwarmNode>;
      return { ID: String(entry.ID ?? ""), Hostname: String(entry.Hostname ?? ""), Status: String(entry.Status ?? ""), Availability: String(entry.Availability ?? ""), ManagerStatus: String(entry.ManagerStatus ?? "") };
    });
}

export type BootstrapResult = { initialized: boolean; joined: string[]; labelled: string[] };

/** Brings the nodes into one Swarm of managers; returns what it changed (nothing on a re-run). */
export async function bootstrapSwarm(context: SwarmContext, nodes: Node[]): Promise<BootstrapResult> {
  const { ssh, log } = context;
  const result: BootstrapResult = { initialized: false, joined: [], labelled: [] };
  await Promise.all(nodes.map((node) => waitReady(context, node)));
  const states = await Promise.all(nodes.map(async (node) => ({ node, state: await swarmState(context, node) })));
  const odd = states.find(({ state }) => state !== "active" && state !== "inactive");
  if (odd) throw new Error(`${odd.node.name}: Swarm state is ${JSON.stringify(odd.state)} (expected active or inactive); fix it by hand (docker swarm leave --force)`);

  // The node that holds the Swarm: node 1 when it is in one, else the first that is (node 1 was replaced).
  let anchor = states.find(({ state }) => state === "active")?.node;
  if (!anchor) {
    anchor = nodes[0]!;
    await ssh.check(anchor.publicIp, `docker swarm init --advertise-addr ${anchor.privateIp} --default-addr-pool ${context.environment.network.swarm_address_pool}`);
    log(`+ swarm initialised on ${anchor.name} (advertise ${anchor.privateIp})`);
    result.initialized = true;
  }
  const joining = states.filter(({ node, state }) => state === "inactive" && node !== anchor).map(({ node }) => node);
  if (joining.length > 0) {
    const token = (await ssh.check(anchor.publicIp, "docker swarm join-token -q manager")).trim();
    // One at a time: each join changes the Raft membership the next one joins.
    for (const node of joining) {
      const command = `docker swarm join --token ${token} ${anchor.privateIp}:2377`;
      await ssh.check(node.publicIp, command, { shown: `docker swarm join --token <manager token> ${anchor.privateIp}:2377` });
      log(`+ ${node.name} joined the swarm as a manager`);
      result.joined.push(node.name);
    }
  }

  const members = await listSwarmNodes(context, anchor);
  for (const node of nodes) {
    const member = members.find((entry) => entry.Hostname === node.name);
    if (!member) throw new Error(`${node.name} is not listed by docker node ls on ${anchor.name}`);
    const labels = JSON.parse((await ssh.check(anchor.publicIp, `docker node inspect ${member.ID} --format '{{json .Spec.Labels}}'`)).trim() || "{}") as Record<string, string> | null;
    if (labels?.node === String(node.node)) continue;
    await ssh.check(anchor.publicIp, `docker node update --label-add node=${node.node} ${member.ID}`);
    log(`~ ${node.name}: label node=${node.node}`);
    result.labelled.push(node.name);
  }
  const strangers = members.filter((member) => !nodes.some((node) => node.name === member.Hostname));
  for (const stranger of strangers) log(`! swarm node ${stranger.Hostname} (${stranger.ID}, ${stranger.Status}) is not a server of this environment: demote and remove it (docker node demote/rm)`);
  return result;
}

/** The first node that is a Swarm manager, for commands that need one. */
export async function findManager(context: SwarmContext, nodes: Node[]): Promise<Node> {
  for (const node of nodes) {
    const result = await context.ssh.run(node.publicIp, SWARM_STATE_COMMAND);
    if (result.exitCode === 0 && result.stdout.trim() === "active") return node;
  }
  throw new Error("no node answers as an active Swarm member: run apply first");
}
