// What apply would change at Hetzner: the environment's description compared with the resources
// labelled managed-by=edge-ops,env=<name>. Six list calls read everything; nothing is written.
import { createHash } from "node:crypto";
import { labelSelector, type HetznerClient, type HetznerServer } from "../workers/hetzner/client.ts";
import { ageInDays, STALE_AFTER_DAYS } from "./cloudflare-ips.ts";
import { ConfigError, hasUnresolvedSources, type Environment } from "./config.ts";
import type { Firewall, FirewallRule, HcloudResources, Network, PlacementGroup, SshKey, Volume } from "./hcloud.ts";

export const MANAGED_BY = "edge-ops";
export const SWARM_NODE_ROLE = "swarm-node";

/** Labels every resource of the environment carries; `destroy` deletes exactly what matches them. */
export const ownership = (environment: Environment) => ({ "managed-by": MANAGED_BY, env: environment.name });
export const ownedSelector = (environment: Environment) => labelSelector(ownership(environment));
export const resourceLabels = (environment: Environment, extra: Record<string, string> = {}) => ({ ...environment.labels, ...ownership(environment), ...extra });

export const resourceName = (environment: Environment) => `edge-ops-${environment.name}`;
export const serverName = (environment: Environment, node: number) => `edge-ops-${environment.name}-${node}`;
export const volumeName = (environment: Environment, node: number) => `edge-ops-${environment.name}-data-${node}`;
export const nodeNumbers = (environment: Environment) => Array.from({ length: environment.nodes }, (_, index) => index + 1);

export type Observed = {
  /** Our key, found by the fingerprint of INFRA_SSH_PUBLIC_KEY (ours or uploaded by someone else). */
  deployKey: SshKey | null;
  allKeys: SshKey[];
  networks: Network[];
  firewalls: Firewall[];
  placementGroups: PlacementGroup[];
  /** Swarm nodes only; backup servers and image builders have other roles. */
  servers: HetznerServer[];
  volumes: Volume[];
};

export type ChangeKind = "ssh_key" | "network" | "firewall" | "placement_group" | "server" | "volume";
/** A resource whose labels lack some of the environment's: apply adds them (PUT, labels merged). */
export type LabelFix = {
  kind: "networks" | "firewalls" | "placement_groups" | "servers" | "volumes";
  id: number;
  name: string;
  /** The whole set to PUT (Hetzner replaces a resource's labels): its own, plus `missing`. */
  labels: Record<string, string>;
  missing: Record<string, string>;
};
/** create/update/delete are done by apply; `manual` is drift apply will not fix by itself. */
export type Change = { op: "create" | "update" | "delete" | "manual"; kind: ChangeKind; name: string; details: string[] };

/** MD5 of the key's base64 body, colon-separated: the fingerprint Hetzner shows and filters by. */
export function sshFingerprint(publicKey: string): string {
  const [type, body] = publicKey.trim().split(/\s+/);
  if (!type || !body || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new Error("INFRA_SSH_PUBLIC_KEY does not hold an OpenSSH public key (type, base64 body, comment)");
  return createHash("md5").update(Buffer.from(body, "base64")).digest("hex").match(/../g)!.join(":");
}

export async function observe(hetzner: HetznerClient, resources: HcloudResources, environment: Environment, fingerprint: string): Promise<Observed> {
  const selector = ownedSelector(environment);
  const [allKeys, networks, firewalls, placementGroups, servers, volumes] = await Promise.all([
    resources.listSshKeys({}),
    resources.listNetworks(selector),
    resources.listFirewalls(selector),
    resources.listPlacementGroups(selector),
    hetzner.listServers({ labelSelector: `${selector},role=${SWARM_NODE_ROLE}` }),
    resources.listVolumes(selector),
  ]);
  return { deployKey: allKeys.find((key) => key.fingerprint === fingerprint) ?? null, allKeys, networks, firewalls, placementGroups, servers, volumes };
}

const anywhere = (sources: string[]) => [...sources].sort();

/** The inbound rules: SSH and web from their sources, ICMP, extras. Outbound stays open. */
export function desiredRules(environment: Environment): FirewallRule[] {
  const { firewall } = environment;
  if (hasUnresolvedSources(environment)) throw new ConfigError("firewall.ssh_sources names a variable that was not resolved (withOperatorAddresses)");
  const via = environment.webSources.from === "cloudflare" ? " from Cloudflare" : "";
  const rules: FirewallRule[] = [
    { direction: "in", protocol: "tcp", port: "22", source_ips: anywhere(firewall.ssh_sources), destination_ips: [], description: "SSH" },
    { direction: "in", protocol: "tcp", port: "80", source_ips: anywhere(firewall.web_sources), destination_ips: [], description: `HTTP${via} (Traefik)` },
    { direction: "in", protocol: "tcp", port: "443", source_ips: anywhere(firewall.web_sources), destination_ips: [], description: `HTTPS${via} (Traefik)` },
  ];
  if (firewall.allow_icmp) rules.push({ direction: "in", protocol: "icmp", port: null, source_ips: ["0.0.0.0/0", "::/0"], destination_ips: [], description: "ICMP" });
  for (const rule of firewall.extra_rules) {
    rules.push({ direction: "in", protocol: rule.protocol, port: String(rule.port), source_ips: anywhere(rule.sources), destination_ips: [], description: rule.description });
  }
  return rules;
}

const ruleKey = (rule: FirewallRule) =>
  JSON.stringify([rule.direction, rule.protocol, rule.port ?? null, [...rule.source_ips].sort(), [...rule.destination_ips].sort(), rule.description ?? null]);
export const sameRules = (a: FirewallRule[], b: FirewallRule[]) => JSON.stringify(a.map(ruleKey).sort()) === JSON.stringify(b.map(ruleKey).sort());

/** The one resource of a kind, or an error when someone made two. */
function single<T extends { name: string }>(items: T[], kind: string): T | null {
  if (items.length > 1) throw new Error(`${items.length} ${kind}s carry this environment's labels (${items.map((item) => item.name).join(", ")}): delete the extra one by hand`);
  return items[0] ?? null;
}

export function serverOfNode(observed: Observed, node: number): HetznerServer | null {
  const matches = observed.servers.filter((server) => server.labels.node === String(node));
  if (matches.length > 1) throw new Error(`servers ${matches.map((server) => server.name).join(", ")} are all labelled node=${node}: delete the extra one by hand`);
  return matches[0] ?? null;
}

export function volumeOfNode(observed: Observed, node: number): Volume | null {
  const matches = observed.volumes.filter((volume) => volume.labels.node === String(node));
  if (matches.length > 1) throw new Error(`volumes ${matches.map((volume) => volume.name).join(", ")} are all labelled node=${node}: delete the extra one by hand`);
  return matches[0] ?? null;
}

export const observedNetwork = (observed: Observed) => single(observed.networks, "network");
export const observedFirewall = (observed: Observed) => single(observed.firewalls, "firewall");
export const observedPlacementGroup = (observed: Observed) => single(observed.placementGroups, "placement group");

const serverTypeName = (server: HetznerServer) => {
  const type = (server as { server_type?: { name?: unknown } }).server_type?.name;
  return typeof type === "string" ? type : null;
};
export const firewallIdsOf = (server: HetznerServer) => {
  const firewalls = (server.public_net as { firewalls?: { id: number }[] } | null | undefined)?.firewalls ?? [];
  return firewalls.map((entry) => entry.id);
};
const placementGroupOf = (server: HetznerServer) => (server as { placement_group?: { id?: number } | null }).placement_group?.id ?? null;

/** The labels `resource` should carry that it lacks or carries with another value. */
export function missingLabels(current: Record<string, string>, wanted: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(wanted).filter(([key, value]) => current[key] !== value));
}

/**
 * Resources whose labels lack the environment's (labels added to the file, or removed by hand).
 * Labels nobody asked for are left alone: someone may have set them on purpose.
 */
export function labelFixes(environment: Environment, observed: Observed): LabelFix[] {
  const fixes: LabelFix[] = [];
  const check = (kind: LabelFix["kind"], resource: { id: number; name: string; labels: Record<string, string> }, wanted: Record<string, string>) => {
    const missing = missingLabels(resource.labels, wanted);
    if (Object.keys(missing).length > 0) fixes.push({ kind, id: resource.id, name: resource.name, labels: { ...resource.labels, ...wanted }, missing });
  };
  for (const network of observed.networks) check("networks", network, resourceLabels(environment));
  for (const firewall of observed.firewalls) check("firewalls", firewall, resourceLabels(environment));
  for (const group of observed.placementGroups) check("placement_groups", group, resourceLabels(environment));
  const nodes = nodeNumbers(environment).map(String);
  for (const server of observed.servers) {
    if (server.labels.node === undefined || !nodes.includes(server.labels.node)) continue;
    check("servers", server, resourceLabels(environment, { role: SWARM_NODE_ROLE, node: server.labels.node }));
  }
  for (const volume of observed.volumes) {
    if (volume.labels.node === undefined || !nodes.includes(volume.labels.node)) continue;
    check("volumes", volume, resourceLabels(environment, { node: volume.labels.node }));
  }
  return fixes;
}

const CHANGE_KIND: Record<LabelFix["kind"], ChangeKind> = { networks: "network", firewalls: "firewall", placement_groups: "placement_group", servers: "server", volumes: "volume" };

/** Lines printed before the plan: where the web ports' sources come from, and how old they are. */
export function planHeader(environment: Environment, now: Date): string[] {
  const { webSources, firewall } = environment;
  if (webSources.from === "file") return [`Web (80/443) open to: ${firewall.web_sources.join(", ")} (firewall.web_sources).`];
  const lines = [`Web (80/443) open to Cloudflare's ${firewall.web_sources.length} ranges only (${webSources.file.split("/").slice(-2).join("/")}, ${webSources.date}): ${firewall.web_sources.join(", ")}.`];
  const age = ageInDays(webSources, now);
  if (age > STALE_AFTER_DAYS) lines.push(`! Cloudflare's ranges are ${age} days old: npm run infra -- cloudflare-ips fetches them again.`);
  return lines;
}

/** The changes apply would make, in the order it makes them. */
export function plan(environment: Environment, observed: Observed): Change[] {
  const changes: Change[] = [];
  const nodes = nodeNumbers(environment);

  if (!observed.deployKey) changes.push({ op: "create", kind: "ssh_key", name: `${resourceName(environment)}-deploy`, details: ["the key in INFRA_SSH_PUBLIC_KEY"] });
  for (const name of environment.ssh_keys) {
    if (!observed.allKeys.some((key) => key.name === name)) changes.push({ op: "manual", kind: "ssh_key", name, details: ["listed in ssh_keys but not in the Hetzner project: upload it or remove it from the file"] });
  }

  const network = observedNetwork(observed);
  if (!network) {
    changes.push({ op: "create", kind: "network", name: resourceName(environment), details: [`ip_range ${environment.network.ip_range}`, `subnet ${environment.network.subnet} (cloud, ${environment.networkZone})`] });
  } else {
    if (network.ip_range !== environment.network.ip_range) changes.push({ op: "manual", kind: "network", name: network.name, details: [`ip_range is ${network.ip_range}, the file says ${environment.network.ip_range}: a network's range cannot change under running servers; destroy and apply`] });
    if (!network.subnets.some((subnet) => subnet.ip_range === environment.network.subnet && subnet.network_zone === environment.networkZone)) {
      changes.push({ op: "manual", kind: "network", name: network.name, details: [`has no subnet ${environment.network.subnet} in ${environment.networkZone}: destroy and apply`] });
    }
  }

  const rules = desiredRules(environment);
  const firewall = observedFirewall(observed);
  if (!firewall) changes.push({ op: "create", kind: "firewall", name: resourceName(environment), details: rules.map(describeRule) });
  else if (!sameRules(firewall.rules, rules)) changes.push({ op: "update", kind: "firewall", name: firewall.name, details: ["set rules:", ...rules.map(describeRule)] });

  if (!observedPlacementGroup(observed)) changes.push({ op: "create", kind: "placement_group", name: resourceName(environment), details: ["type spread: one node per physical host"] });

  for (const node of nodes) {
    const server = serverOfNode(observed, node);
    if (!server) {
      changes.push({ op: "create", kind: "server", name: serverName(environment, node), details: [`${environment.server_type} in ${environment.location}, ${environment.image}, node=${node}`] });
      continue;
    }
    const type = serverTypeName(server);
    if (type !== null && type !== environment.server_type) changes.push({ op: "manual", kind: "server", name: server.name, details: [`is ${type}, the file says ${environment.server_type}: rescale by hand (power off, change type) one node at a time`] });
    if (server.status === "off") changes.push({ op: "update", kind: "server", name: server.name, details: ["power on"] });
    if (network && !server.private_net.some((net) => net.network === network.id)) changes.push({ op: "manual", kind: "server", name: server.name, details: [`is not attached to network ${network.name}: delete the server and apply`] });
    const group = observedPlacementGroup(observed);
    if (group && placementGroupOf(server) !== group.id) changes.push({ op: "manual", kind: "server", name: server.name, details: [`is not in placement group ${group.name}: delete the server and apply`] });
    if (firewall && !firewallIdsOf(server).includes(firewall.id)) changes.push({ op: "update", kind: "firewall", name: firewall.name, details: [`apply to server ${server.name}`] });
  }
  for (const server of observed.servers) {
    if (!nodes.map(String).includes(server.labels.node ?? "")) changes.push({ op: "delete", kind: "server", name: server.name, details: [`labelled node=${server.labels.node ?? "(none)"}: not a node of this environment`] });
  }

  for (const node of nodes) {
    const volume = volumeOfNode(observed, node);
    const server = serverOfNode(observed, node);
    if (!volume) {
      changes.push({ op: "create", kind: "volume", name: volumeName(environment, node), details: [`${environment.volume.size_gb} GB ${environment.volume.format}, attached to ${serverName(environment, node)}`] });
      continue;
    }
    if (volume.size < environment.volume.size_gb) changes.push({ op: "manual", kind: "volume", name: volume.name, details: [`is ${volume.size} GB, the file says ${environment.volume.size_gb} GB: resize by hand (volumes only grow), then resize2fs`] });
    if (volume.size > environment.volume.size_gb) changes.push({ op: "manual", kind: "volume", name: volume.name, details: [`is ${volume.size} GB, larger than the file's ${environment.volume.size_gb} GB: volumes cannot shrink; update the file`] });
    if (server && volume.server !== server.id) changes.push({ op: "update", kind: "volume", name: volume.name, details: [volume.server === null ? `attach to ${server.name}` : `attached to server ${volume.server}, not ${server.name}: detach and attach`] });
    if (!server) changes.push({ op: "update", kind: "volume", name: volume.name, details: [`attach to ${serverName(environment, node)} once it is created (the volume keeps its data)`] });
  }
  for (const volume of observed.volumes) {
    if (!nodes.map(String).includes(volume.labels.node ?? "")) changes.push({ op: "manual", kind: "volume", name: volume.name, details: [`labelled node=${volume.labels.node ?? "(none)"}: not a node of this environment; data volumes are never deleted by apply`] });
  }
  for (const fix of labelFixes(environment, observed)) {
    changes.push({ op: "update", kind: CHANGE_KIND[fix.kind], name: fix.name, details: [`labels: set ${Object.entries(fix.missing).map(([key, value]) => `${key}=${value}`).join(", ")}`] });
  }
  return changes;
}

export function describeRule(rule: FirewallRule): string {
  const port = rule.port ? ` port ${rule.port}` : "";
  return `${rule.direction} ${rule.protocol}${port} from ${rule.source_ips.join(", ")}${rule.description ? ` (${rule.description})` : ""}`;
}

const SYMBOL: Record<Change["op"], string> = { create: "+", update: "~", delete: "-", manual: "!" };

export function formatPlan(changes: Change[]): string[] {
  if (changes.length === 0) return ["No changes: the Hetzner resources match the environment."];
  const lines: string[] = [];
  for (const change of changes) {
    lines.push(`${SYMBOL[change.op]} ${change.op} ${change.kind} ${change.name}`);
    for (const detail of change.details) lines.push(`    ${detail}`);
  }
  const count = (op: Change["op"]) => changes.filter((change) => change.op === op).length;
  lines.push("", `Plan: ${count("create")} to create, ${count("update")} to update, ${count("delete")} to delete, ${count("manual")} to fix by hand.`);
  return lines;
}
