// `status`: the servers Hetzner has for the environment, the Swarm's nodes as a manager sees them,
// and each configured stack's services with running/desired replicas. Healthy = every node Ready
// and every service at its desired count.
import type { HetznerServer } from "../workers/hetzner/client.ts";
import type { Node } from "./apply.ts";
import { backupNetworkLine } from "./backup-route.ts";
import { raw, sh } from "./shell.ts";
import { findManager, listSwarmNodes, type SwarmContext } from "./swarm.ts";

export type StackService = { Name: string; Mode: string; Replicas: string; Image: string };
export type StatusReport = { lines: string[]; healthy: boolean };

export const stackServicesCommand = (stack: string) => sh`docker stack services ${stack} --format ${raw("'{{json .}}'")}`;

/** "2/3" (or "2/3 (max 1 per node)") → running and desired. */
export function replicaCounts(replicas: string): { running: number; desired: number } | null {
  const match = /^(\d+)\/(\d+)/.exec(replicas.trim());
  return match ? { running: Number(match[1]), desired: Number(match[2]) } : null;
}

/** `network`: the environment's Hetzner network, whose id the Worker's BACKUP_NETWORK_ID must be. */
export async function status(context: SwarmContext, servers: HetznerServer[], nodes: Node[], network: { id: number; name: string } | null = null): Promise<StatusReport> {
  const lines: string[] = [backupNetworkLine(context.environment, network), "", "Servers:"];
  let healthy = nodes.length === context.environment.nodes;
  for (const server of servers) {
    const role = server.labels.role ?? "";
    const node = server.labels.node ? ` node=${server.labels.node}` : "";
    lines.push(`  ${server.name.padEnd(28)} ${server.status.padEnd(12)} ${(server.public_net?.ipv4?.ip ?? "-").padEnd(16)} ${(server.private_net[0]?.ip ?? "-").padEnd(14)} ${role}${node}`);
    if (role === "swarm-node" && server.status !== "running") healthy = false;
  }
  if (servers.length === 0) lines.push("  (none: run apply)");
  if (nodes.length === 0) return { lines, healthy: false };

  let manager: Node;
  try {
    manager = await findManager(context, nodes);
  } catch (error) {
    lines.push("", `Swarm: ${error instanceof Error ? error.message : String(error)}`);
    return { lines, healthy: false };
  }
  lines.push("", `Swarm nodes (seen from ${manager.name}):`);
  for (const member of await listSwarmNodes(context, manager)) {
    lines.push(`  ${member.Hostname.padEnd(28)} ${member.Status.padEnd(8)} ${member.Availability.padEnd(8)} ${member.ManagerStatus || "worker"}`);
    if (member.Status !== "Ready" && nodes.some((node) => node.name === member.Hostname)) healthy = false;
    if (!nodes.some((node) => node.name === member.Hostname)) lines.push(`    ! no server of this environment: apply removes it once it is down`);
  }
  for (const stack of context.environment.stacks) {
    lines.push("", `Stack ${stack.name}:`);
    const result = await context.ssh.run(manager.publicIp, stackServicesCommand(stack.name));
    const services = result.exitCode === 0 ? result.stdout.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line) as StackService) : [];
    if (services.length === 0) {
      lines.push("  not deployed (npm run infra -- deploy)");
      healthy = false;
      continue;
    }
    for (const service of services) {
      const counts = replicaCounts(service.Replicas);
      const ok = counts !== null && counts.running === counts.desired;
      if (!ok) healthy = false;
      lines.push(`  ${service.Name.padEnd(32)} ${service.Mode.padEnd(11)} ${service.Replicas.padEnd(8)} ${ok ? "healthy" : "DEGRADED"}`);
    }
  }
  lines.push("", healthy ? "Healthy." : "Degraded.");
  return { lines, healthy };
}
