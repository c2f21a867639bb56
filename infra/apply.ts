// Converges the Hetzner resources of an environment: creates what is missing, fixes what drifted,
// in dependency order, each creation once (never retried in a loop: a failure ends the run, and the
// next apply finds what this one made by its labels). A second apply makes no mutating call.
import { HetznerApiError, type HetznerAction, type HetznerClient, type HetznerServer } from "../workers/hetzner/client.ts";
import { nodeUserData } from "./cloud-init.ts";
import type { Environment } from "./config.ts";
import type { HcloudResources } from "./hcloud.ts";
import {
  desiredRules,
  firewallIdsOf,
  labelFixes,
  nodeNumbers,
  observedFirewall,
  observedNetwork,
  observedPlacementGroup,
  ownedSelector,
  resourceLabels,
  resourceName,
  sameRules,
  serverName,
  serverOfNode,
  SWARM_NODE_ROLE,
  volumeName,
  volumeOfNode,
  type Observed,
} from "./plan.ts";
import { progress, type ProgressOptions } from "./progress.ts";

export type Node = { node: number; name: string; serverId: number; publicIp: string; privateIp: string };

export type ApplyContext = {
  hetzner: HetznerClient;
  resources: HcloudResources;
  environment: Environment;
  publicKey: string;
  fingerprint: string;
  log: (line: string) => void;
  /** How long to wait for Hetzner's actions (server creation takes about a minute). */
  actionTimeoutMs: number;
  pollIntervalMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Progress lines while waiting (none when unset). */
  progress?: ProgressOptions;
};

/** Runs every creation of a step, waits for all their actions, then reports the first failure. */
async function settleAll(context: ApplyContext, steps: Promise<HetznerAction[]>[]): Promise<void> {
  const results = await Promise.allSettled(steps);
  const actions = results.flatMap((result) => (result.status === "fulfilled" ? result.value : []));
  await context.hetzner.waitForActions(actions.map((action) => action.id), context.actionTimeoutMs);
  const failure = results.find((result): result is PromiseRejectedResult => result.status === "rejected");
  if (failure) throw failure.reason;
}

/**
 * The environment's nodes once none is still starting: a server whose creation an earlier, timed-out
 * apply left running is locked until it finishes, and volumes cannot attach to it before.
 */
async function runningServers(context: ApplyContext): Promise<HetznerServer[]> {
  const deadline = Date.now() + context.actionTimeoutMs;
  const report = progress(context.progress, "waiting for servers to start");
  for (;;) {
    const servers = await context.hetzner.listServers({ labelSelector: `${ownedSelector(context.environment)},role=${SWARM_NODE_ROLE}` });
    const starting = servers.filter((server) => server.status === "initializing" || server.status === "starting");
    if (starting.length === 0) return servers;
    if (Date.now() > deadline) throw new Error(`servers ${starting.map((server) => server.name).join(", ")} are still starting: run apply again later`);
    report.tick(starting.map((server) => `${server.name} ${server.status}`).join(", "));
    await context.sleep(context.pollIntervalMs);
  }
}

/** Converges from `observed` (what plan read just before): a no-op apply costs no further call. */
export async function applyResources(context: ApplyContext, observed: Observed): Promise<{ nodes: Node[]; observed: Observed; network: { id: number; name: string } }> {
  const { hetzner, resources, environment, log } = context;

  let key = observed.deployKey;
  if (!key) {
    try {
      key = await resources.createSshKey({ name: `${resourceName(environment)}-deploy`, public_key: context.publicKey, labels: resourceLabels(environment) });
    } catch (error) {
      if (error instanceof HetznerApiError && error.code === "uniqueness_error") throw new Error(`an SSH key named ${resourceName(environment)}-deploy exists with another fingerprint: delete it or set INFRA_SSH_PUBLIC_KEY to its key`);
      throw error;
    }
    log(`+ ssh_key ${key.name} (${key.fingerprint})`);
  }

  let network = observedNetwork(observed);
  if (!network) {
    network = await resources.createNetwork({
      name: resourceName(environment),
      ip_range: environment.network.ip_range,
      labels: resourceLabels(environment),
      subnets: [{ type: "cloud", network_zone: environment.networkZone, ip_range: environment.network.subnet }],
    });
    log(`+ network ${network.name} ${network.ip_range}`);
  }

  const rules = desiredRules(environment);
  let firewall = observedFirewall(observed);
  const firewallActions: HetznerAction[] = [];
  if (!firewall) {
    const created = await resources.createFirewall({ name: resourceName(environment), labels: resourceLabels(environment), rules });
    firewall = created.firewall;
    firewallActions.push(...created.actions);
    log(`+ firewall ${firewall.name} (${rules.length} rules)`);
  } else if (!sameRules(firewall.rules, rules)) {
    firewallActions.push(...(await resources.setFirewallRules(firewall.id, rules)));
    log(`~ firewall ${firewall.name}: rules set`);
  }

  let group = observedPlacementGroup(observed);
  if (!group) {
    group = await resources.createPlacementGroup({ name: resourceName(environment), labels: resourceLabels(environment) });
    log(`+ placement_group ${group.name} (spread)`);
  }

  // Labels the file asks for that a resource lacks (added to the file, or removed by hand).
  await Promise.all(
    labelFixes(environment, observed).map(async (fix) => {
      await resources.setLabels(fix.kind, fix.id, fix.labels);
      log(`~ ${fix.kind.replace(/s$/, "")} ${fix.name}: labels ${Object.entries(fix.missing).map(([key, value]) => `${key}=${value}`).join(", ")}`);
    }),
  );

  const extraKeys = environment.ssh_keys.map((name) => {
    const found = observed.allKeys.find((candidate) => candidate.name === name);
    if (!found) throw new Error(`ssh_keys: no SSH key named ${name} in the Hetzner project`);
    return found.id;
  });
  const userData = nodeUserData(environment);
  const [networkId, firewallId, groupId, keyId] = [network.id, firewall.id, group.id, key.id];
  const serverSteps = nodeNumbers(environment).map(async (node): Promise<HetznerAction[]> => {
    const server = serverOfNode(observed, node);
    if (server) {
      if (server.status !== "off") return [];
      log(`~ server ${server.name}: power on`);
      return [await resources.powerOn(server.id)];
    }
    const created = await hetzner.createServer({
      name: serverName(environment, node),
      server_type: environment.server_type,
      image: environment.image,
      location: environment.location,
      labels: resourceLabels(environment, { role: SWARM_NODE_ROLE, node: String(node) }),
      user_data: userData,
      ssh_keys: [keyId, ...extraKeys],
      networks: [networkId],
      firewalls: [{ firewall: firewallId }],
      placement_group: groupId,
      start_after_create: true,
    });
    log(`+ server ${created.server.name} (${environment.server_type}, ${environment.location})`);
    return [created.action, ...created.nextActions];
  });
  await settleAll(context, [Promise.resolve(firewallActions), ...serverSteps]);

  // Addresses, firewalls and power state as they are now that the actions finished (the plan's
  // reading still holds when no server was created, started or starting).
  const unchanged = nodeNumbers(environment).every((node) => {
    const server = serverOfNode(observed, node);
    return server !== null && server.status === "running";
  });
  const servers = unchanged ? observed.servers : await runningServers(context);
  const current: Observed = { ...observed, servers };
  const nodeServers = nodeNumbers(environment).map((node) => {
    const server = serverOfNode(current, node);
    if (!server) throw new Error(`server for node ${node} is missing after creation`);
    return server;
  });

  const unprotected = nodeServers.filter((server) => !firewallIdsOf(server).includes(firewallId));
  const attachSteps: Promise<HetznerAction[]>[] = [];
  if (unprotected.length > 0) {
    log(`~ firewall ${firewall.name}: apply to ${unprotected.map((server) => server.name).join(", ")}`);
    attachSteps.push(resources.applyFirewallToServers(firewallId, unprotected.map((server) => server.id)));
  }
  for (const server of nodeServers) {
    const node = Number(server.labels.node);
    const volume = volumeOfNode(observed, node);
    if (!volume) {
      attachSteps.push(
        resources
          .createVolume({ name: volumeName(environment, node), size: environment.volume.size_gb, server: server.id, format: environment.volume.format, labels: resourceLabels(environment, { node: String(node) }) })
          .then(({ volume: created, actions }) => {
            log(`+ volume ${created.name} (${created.size} GB) on ${server.name}`);
            return actions;
          }),
      );
    } else if (volume.server !== server.id) {
      attachSteps.push(
        (async () => {
          const actions: HetznerAction[] = [];
          if (volume.server !== null) await hetzner.waitForActions([(await resources.detachVolume(volume.id)).id], context.actionTimeoutMs);
          actions.push(await resources.attachVolume(volume.id, server.id));
          log(`~ volume ${volume.name}: attached to ${server.name}`);
          return actions;
        })(),
      );
    }
  }
  for (const stray of servers.filter((server) => !nodeNumbers(environment).map(String).includes(server.labels.node ?? ""))) {
    attachSteps.push(
      hetzner.deleteServer(stray.id).then((action) => {
        log(`- server ${stray.name} (not a node of this environment)`);
        return action ? [action] : [];
      }),
    );
  }
  await settleAll(context, attachSteps);

  return { nodes: nodeServers.map((server) => nodeOf(server, networkId)), observed: current, network: { id: network.id, name: network.name } };
}

/** A server as the SSH steps need it: public address to reach, private address for the Swarm. */
export function nodeOf(server: HetznerServer, networkId: number | null): Node {
  const publicIp = server.public_net?.ipv4?.ip;
  const privateIp = (networkId === null ? server.private_net[0] : server.private_net.find((net) => net.network === networkId))?.ip;
  if (!publicIp) throw new Error(`server ${server.name} has no public IPv4: the CLI reaches nodes over SSH on it`);
  if (!privateIp) throw new Error(`server ${server.name} has no address in the environment's network`);
  return { node: Number(server.labels.node), name: server.name, serverId: server.id, publicIp, privateIp };
}

