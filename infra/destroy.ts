// `destroy`: deletes exactly the resources labelled managed-by=edge-ops,env=<name> (servers of any
// role, firewall, placement group, network, the deploy key when we uploaded it, and the data
// volumes only when asked to), in the order Hetzner allows, then lists again and fails when
// anything labelled is left but the volumes it was told to keep. A kept volume stays labelled: the
// next apply attaches it to the new server of its node.
import type { HetznerAction, HetznerClient } from "../workers/hetzner/client.ts";
import type { Environment } from "./config.ts";
import type { HcloudResources } from "./hcloud.ts";
import { ownedSelector } from "./plan.ts";

export type Labelled = { kind: "server" | "volume" | "firewall" | "placement_group" | "network" | "ssh_key"; id: number; name: string };

export async function listLabelled(hetzner: HetznerClient, resources: HcloudResources, environment: Environment): Promise<Labelled[]> {
  const selector = ownedSelector(environment);
  const [servers, volumes, firewalls, groups, networks, keys] = await Promise.all([
    hetzner.listServers({ labelSelector: selector }),
    resources.listVolumes(selector),
    resources.listFirewalls(selector),
    resources.listPlacementGroups(selector),
    resources.listNetworks(selector),
    resources.listSshKeys({ labelSelector: selector }),
  ]);
  const as = (kind: Labelled["kind"]) => (item: { id: number; name: string }): Labelled => ({ kind, id: item.id, name: item.name });
  return [...servers.map(as("server")), ...volumes.map(as("volume")), ...firewalls.map(as("firewall")), ...groups.map(as("placement_group")), ...networks.map(as("network")), ...keys.map(as("ssh_key"))];
}

export type DestroyContext = { hetzner: HetznerClient; resources: HcloudResources; environment: Environment; log: (line: string) => void; actionTimeoutMs: number };

/**
 * Deletes `targets` (volumes only with `deleteVolumes`); returns what is still labelled afterwards
 * that should not be (empty when destroy succeeded).
 */
export async function destroy(context: DestroyContext, targets: Labelled[], options: { deleteVolumes: boolean }): Promise<Labelled[]> {
  const { hetzner, resources, log } = context;
  const of = (kind: Labelled["kind"]) => targets.filter((target) => target.kind === kind && (kind !== "volume" || options.deleteVolumes));

  // Servers first: deleting one detaches its volumes, firewalls and network.
  const deletions = await Promise.all(of("server").map(async (server) => ({ server, action: await hetzner.deleteServer(server.id) })));
  await hetzner.waitForActions(deletions.flatMap(({ action }) => (action ? [action.id] : [])), context.actionTimeoutMs);
  for (const { server } of deletions) log(`- server ${server.name}`);

  // A volume or firewall may still be attached to a server that is not ours.
  const volumes = options.deleteVolumes ? await resources.listVolumes(ownedSelector(context.environment)) : [];
  const detaching: HetznerAction[] = await Promise.all(volumes.filter((volume) => volume.server !== null).map((volume) => resources.detachVolume(volume.id)));
  const firewalls = await resources.listFirewalls(ownedSelector(context.environment));
  const unapplying = (
    await Promise.all(
      firewalls.map((firewall) => {
        const servers = firewall.applied_to.flatMap((target) => (target.type === "server" && target.server ? [target.server.id] : []));
        return servers.length > 0 ? resources.removeFirewallFromServers(firewall.id, servers) : Promise.resolve([]);
      }),
    )
  ).flat();
  await hetzner.waitForActions([...detaching, ...unapplying].map((action) => action.id), context.actionTimeoutMs);

  for (const kind of ["volume", "firewall", "placement_group", "network", "ssh_key"] as const) {
    const path = ({ volume: "volumes", firewall: "firewalls", placement_group: "placement_groups", network: "networks", ssh_key: "ssh_keys" } as const)[kind];
    await Promise.all(
      of(kind).map(async (target) => {
        await resources.delete(path, target.id);
        log(`- ${kind} ${target.name}`);
      }),
    );
  }
  const left = await listLabelled(hetzner, resources, context.environment);
  return left.filter((item) => item.kind !== "volume" || options.deleteVolumes);
}
