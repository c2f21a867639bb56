// The Swarm on the three nodes, through the SSH program only: wait for cloud-init, read each node's
// state, `docker swarm init` on node 1 when no node is in a swarm yet, join the others as managers,
// label the nodes for placement, and take out the nodes of servers that are gone (a replaced
// server leaves its old node behind as an unreachable manager). Every step reads first, so a
// second run changes nothing.
//
// The join token never is on a command line, here or on the node: `docker swarm join` takes it
// only as --token, so a node joins through the Engine API (POST /swarm/join) with the request on
// curl's standard input. Checked 2026-12-06 against docker/cli v29.7.2 (`docker swarm join` has no
// other way to pass the token) and the Engine API's SwarmJoinRequest (ListenAddr, AdvertiseAddr,
// DataPathAddr, RemoteAddrs, JoinToken; 200 on success, 400/500/503 with {"message"}); swarmkit
// controlapi/node.go (a manager can be demoted only when the reachable managers left keep a
// quorum, "can't remove member from the raft: this would result in a loss of quorum"; `node rm`
// needs a demoted, down node).
import type { Node } from "./apply.ts";
import type { Environment } from "./config.ts";
import { progress, type ProgressOptions } from "./progress.ts";
import { raw, sh } from "./shell.ts";
import { RemoteCommandError, type Ssh } from "./ssh.ts";

export type SwarmContext = {
  ssh: Ssh;
  environment: Environment;
  log: (line: string) => void;
  /** How long a node may take to answer SSH and finish cloud-init. */
  readyTimeoutMs: number;
  pollIntervalMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Progress lines while waiting (none when unset). */
  progress?: ProgressOptions;
};

export const SWARM_STATE_COMMAND = "docker info --format '{{.Swarm.LocalNodeState}}'";
/** A node's own view: its Swarm state and, once in a swarm, its node id. */
export const NODE_IDENTITY_COMMAND = "docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}'";
export const NODE_LIST_COMMAND = "docker node ls --format '{{json .}}'";
export const CLOUD_INIT_STATUS_COMMAND = "cloud-init status";
/** The Engine API's join, the request (with the token) on stdin. */
export const SWARM_JOIN_COMMAND = sh`curl --silent --show-error --fail-with-body --unix-socket /var/run/docker.sock --header ${"Content-Type: application/json"} --data-binary @- http://localhost/swarm/join`;

/** Docker's node ids: 25 lower-case letters and digits. */
const NODE_ID = /^[a-z0-9]{1,64}$/;
const nodeId = (id: string) => {
  if (!NODE_ID.test(id)) throw new Error(`docker node ls answered an unexpected node id ${JSON.stringify(id.slice(0, 40))}`);
  return id;
};

/** Raised when the Swarm answers that it has no leader: more than half of its managers are gone. */
export class QuorumLostError extends Error {
  constructor(manager: string) {
    super(
      `the Swarm seen from ${manager} has no leader: more than half of its managers are unreachable, so no node can join or be removed. ` +
        "Start the stopped managers (plan shows servers that are off), or recover on a healthy manager with `docker swarm init --force-new-cluster --advertise-addr <its private address>` and run apply again (docs/swarm.md, \"Lost quorum\")",
    );
    this.name = "QuorumLostError";
  }
}

const noLeader = (error: unknown) => error instanceof RemoteCommandError && /does not have a leader|lost quorum/i.test(error.result.stderr);

/** Runs `fn`; a "no leader" answer from `manager` becomes a QuorumLostError that says what to do. */
async function withQuorum<T>(manager: Node, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (noLeader(error)) throw new QuorumLostError(manager.name);
    throw error;
  }
}

/**
 * Waits until the node answers over SSH and cloud-init is done, polling `cloud-init status`
 * (exit 0 and "status: done"; exit 2: done with recoverable errors; "running" or "not run": not
 * yet; exit 255: no SSH yet). `waiting` hears what the node is waiting for at every poll.
 */
export async function waitReady(context: SwarmContext, node: Node, waiting?: (state: string) => void): Promise<void> {
  const deadline = Date.now() + context.readyTimeoutMs;
  for (;;) {
    const result = await context.ssh.run(node.publicIp, CLOUD_INIT_STATUS_COMMAND);
    const state = /^status:\s*(.+)$/m.exec(result.stdout)?.[1]?.trim() ?? "";
    let pending: string;
    if (result.exitCode === 255) {
      pending = "no SSH yet";
    } else if (result.exitCode === 2) {
      context.log(`! ${node.name}: cloud-init finished with recoverable errors (see /var/log/cloud-init-output.log)`);
      return;
    } else if (result.exitCode === 0 && state === "done") {
      return;
    } else if (result.exitCode === 0 && (state === "running" || state === "not run" || state === "not started")) {
      pending = `cloud-init ${state}`;
    } else {
      throw new Error(`${node.name}: cloud-init ${state === "" ? `status exited ${result.exitCode}` : `is ${JSON.stringify(state)}`}; see /var/log/cloud-init-output.log on ${node.publicIp}`);
    }
    if (Date.now() > deadline) {
      const why = result.exitCode === 255 ? `did not answer over SSH: ${result.stderr.trim().split("\n").at(-1) ?? ""}` : `still has ${pending}`;
      throw new Error(`${node.name} (${node.publicIp}) ${why} after ${Math.round(context.readyTimeoutMs / 1000)} s`);
    }
    waiting?.(pending);
    await context.sleep(context.pollIntervalMs);
  }
}

/** Waits for every node at once, with one progress line naming those still awaited. */
export async function waitAllReady(context: SwarmContext, nodes: Node[]): Promise<void> {
  const awaited = new Map<string, string>();
  const report = progress(context.progress, "waiting for SSH and cloud-init");
  await Promise.all(
    nodes.map(async (node) => {
      await waitReady(context, node, (state) => {
        awaited.set(node.name, state);
        report.tick([...awaited].map(([name, what]) => `${name} (${what})`).join(", "));
      });
      awaited.delete(node.name);
    }),
  );
}

/**
 * The node's Swarm state and its own node id ("" outside a swarm): the id tells a node apart from
 * the old node of a replaced server, which has the same host name.
 */
export async function nodeIdentity(context: SwarmContext, node: Node): Promise<{ state: string; id: string }> {
  const [state = "", id = ""] = (await context.ssh.check(node.publicIp, NODE_IDENTITY_COMMAND)).trim().split(/\s+/);
  return { state, id };
}

export type SwarmNode = { ID: string; Hostname: string; Status: string; Availability: string; ManagerStatus: string };

export async function listSwarmNodes(context: SwarmContext, manager: Node): Promise<SwarmNode[]> {
  const output = await withQuorum(manager, () => context.ssh.check(manager.publicIp, NODE_LIST_COMMAND));
  return output
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => {
      const entry = JSON.parse(line) as Partial<SwarmNode>;
      return { ID: String(entry.ID ?? ""), Hostname: String(entry.Hostname ?? ""), Status: String(entry.Status ?? ""), Availability: String(entry.Availability ?? ""), ManagerStatus: String(entry.ManagerStatus ?? "") };
    });
}

/**
 * The member that is `node`: the one with the id the node itself reports, when known; else the one
 * Ready under its name (a replaced server's old node is Down, but a node that has only just joined
 * may not be Ready yet either, which is why the id comes first).
 */
export function memberOf(members: SwarmNode[], node: Node, ownId?: string): SwarmNode | undefined {
  const byId = ownId ? members.find((member) => member.ID === ownId) : undefined;
  if (byId) return byId;
  const named = members.filter((member) => member.Hostname === node.name);
  return named.find((member) => member.Status === "Ready") ?? named[0];
}

export type StaleDecision = { member: SwarmNode; action: "demote-and-remove" | "remove" | "keep"; reason: string };

/**
 * What to do with the members that are none of the environment's servers (`current`: the ids of
 * those that are). A node still up is left alone (it runs something: someone drains it and runs
 * `docker swarm leave` on it). A down worker is removed. A down manager is demoted and removed when
 * the reachable managers left keep a quorum (swarmkit's rule: at least ⌊(managers − 1) / 2⌋ + 1 of
 * the others reachable), else kept, saying why.
 */
export function staleNodePlan(members: SwarmNode[], current: ReadonlySet<string>): StaleDecision[] {
  let managers = members.filter((member) => member.ManagerStatus !== "").length;
  const reachable = members.filter((member) => member.ManagerStatus === "Leader" || member.ManagerStatus === "Reachable").length;
  return members
    .filter((member) => !current.has(member.ID))
    .map((member): StaleDecision => {
      const manager = member.ManagerStatus !== "";
      if (member.Status === "Ready") {
        return { member, action: "keep", reason: `it is up (${manager ? "a manager" : "a worker"}) but no server of this environment: drain it (docker node update --availability drain), run docker swarm leave on it, then apply again` };
      }
      if (!manager) return { member, action: "remove", reason: "a down worker that is no server of this environment" };
      const after = managers - 1;
      const quorum = Math.floor(after / 2) + 1;
      const others = reachable - (member.ManagerStatus === "Unreachable" ? 0 : 1);
      if (others < quorum) {
        return { member, action: "keep", reason: `it is a down manager, but only ${others} of the ${after} other managers are reachable and a quorum needs ${quorum}: bring a manager back first` };
      }
      managers = after;
      return { member, action: "demote-and-remove", reason: "a down manager that is no server of this environment (its server was replaced or deleted)" };
    });
}

export type BootstrapResult = { initialized: boolean; joined: string[]; labelled: string[]; removed: string[]; kept: string[] };

/** `docker node rm`, retried while the demotion is still being reconciled. */
async function removeNode(context: SwarmContext, manager: Node, id: string): Promise<void> {
  const deadline = Date.now() + Math.max(30_000, context.pollIntervalMs * 10);
  for (;;) {
    const command = sh`docker node rm ${id}`;
    const result = await context.ssh.run(manager.publicIp, command);
    if (result.exitCode === 0) return;
    if (!/must be demoted/.test(result.stderr) || Date.now() > deadline) throw new RemoteCommandError(manager.publicIp, command, result);
    await context.sleep(context.pollIntervalMs);
  }
}

/** Brings the nodes into one Swarm of managers; returns what it changed (nothing on a re-run). */
export async function bootstrapSwarm(context: SwarmContext, nodes: Node[]): Promise<BootstrapResult> {
  const { ssh, log } = context;
  const result: BootstrapResult = { initialized: false, joined: [], labelled: [], removed: [], kept: [] };
  await waitAllReady(context, nodes);
  const states = await Promise.all(nodes.map(async (node) => ({ node, ...(await nodeIdentity(context, node)) })));
  const ownIds = new Map(states.map(({ node, id }) => [node.name, id]));
  const odd = states.find(({ state }) => state !== "active" && state !== "inactive");
  if (odd) throw new Error(`${odd.node.name}: Swarm state is ${JSON.stringify(odd.state)} (expected active or inactive); fix it by hand (docker swarm leave --force)`);

  // The node that holds the Swarm: node 1 when it is in one, else the first that is (node 1 was replaced).
  let anchor = states.find(({ state }) => state === "active")?.node;
  if (!anchor) {
    anchor = nodes[0]!;
    await ssh.check(anchor.publicIp, sh`docker swarm init --advertise-addr ${anchor.privateIp} --default-addr-pool ${context.environment.network.swarm_address_pool}`);
    log(`+ swarm initialised on ${anchor.name} (advertise ${anchor.privateIp})`);
    result.initialized = true;
  }
  const holder = anchor;
  const joining = states.filter(({ node, state }) => state === "inactive" && node !== holder).map(({ node }) => node);
  if (joining.length > 0) {
    const token = (await withQuorum(holder, () => ssh.check(holder.publicIp, "docker swarm join-token -q manager"))).trim();
    // One at a time: each join changes the Raft membership the next one joins.
    for (const node of joining) {
      const request = JSON.stringify({ ListenAddr: "0.0.0.0:2377", AdvertiseAddr: node.privateIp, RemoteAddrs: [`${holder.privateIp}:2377`], JoinToken: token });
      const answer = await ssh.run(node.publicIp, SWARM_JOIN_COMMAND, request);
      if (answer.exitCode !== 0) {
        const message = /"message"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(answer.stdout)?.[1] ?? answer.stderr.trim().split("\n").at(-1) ?? "";
        throw new Error(`${node.name}: joining the swarm of ${holder.name} failed (exit ${answer.exitCode}): ${message.slice(0, 300)}`);
      }
      log(`+ ${node.name} joined the swarm as a manager`);
      result.joined.push(node.name);
      ownIds.set(node.name, (await nodeIdentity(context, node)).id);
    }
  }

  const members = await listSwarmNodes(context, holder);
  const current = new Set<string>();
  for (const node of nodes) {
    const member = memberOf(members, node, ownIds.get(node.name));
    if (!member) throw new Error(`${node.name} is not listed by docker node ls on ${holder.name}`);
    const id = nodeId(member.ID);
    current.add(id);
    const labels = JSON.parse((await ssh.check(holder.publicIp, sh`docker node inspect ${id} --format ${raw("'{{json .Spec.Labels}}'")}`)).trim() || "{}") as Record<string, string> | null;
    if (labels?.node === String(node.node)) continue;
    await ssh.check(holder.publicIp, sh`docker node update --label-add ${`node=${node.node}`} ${id}`);
    log(`~ ${node.name}: label node=${node.node}`);
    result.labelled.push(node.name);
  }

  for (const decision of staleNodePlan(members, current)) {
    const { member } = decision;
    const id = nodeId(member.ID);
    const shown = `swarm node ${member.Hostname} (${id}, ${member.Status}${member.ManagerStatus ? `, ${member.ManagerStatus}` : ""})`;
    if (decision.action === "keep") {
      log(`! ${shown} left in place: ${decision.reason}`);
      result.kept.push(member.Hostname);
      continue;
    }
    await withQuorum(holder, async () => {
      if (decision.action === "demote-and-remove") await ssh.check(holder.publicIp, sh`docker node demote ${id}`);
      await removeNode(context, holder, id);
    });
    log(`- ${shown}: ${decision.action === "demote-and-remove" ? "demoted and removed" : "removed"} (${decision.reason})`);
    result.removed.push(member.Hostname);
  }
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
