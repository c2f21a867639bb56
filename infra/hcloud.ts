// The Hetzner resources the Swarm needs beyond servers and images (networks, firewalls, placement
// groups, SSH keys, volumes, server actions), on top of the HetznerClient the Worker uses for backup
// servers. Kept out of the Worker's bundle: only the CLI needs them.
import { z } from "zod";
import { actionSchema, HetznerApiError, HetznerClient, imageSchema, type HetznerAction, type HetznerClientOptions, type HetznerImage } from "../workers/hetzner/client.ts";
import { describeNetworkError, isNetworkError } from "./network-error.ts";
import { progress, type ProgressOptions } from "./progress.ts";

/**
 * The Worker's Hetzner client as the CLI uses it: a request that gets no answer (refused, DNS,
 * timeout) fails naming the host and the cause instead of "fetch failed", and is counted apart
 * (`unanswered`) so the summary does not report it as a request Hetzner answered; waiting for
 * actions prints progress.
 */
export class InfraHetznerClient extends HetznerClient {
  /** Requests that got no answer (the client does not retry those: one each); `requests` counts them too. */
  unanswered = 0;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    options: HetznerClientOptions,
    private readonly waits?: ProgressOptions,
  ) {
    super(options);
  }

  override async request<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const call = super.request(method, path, schema, body);
    this.inFlight.add(call);
    try {
      return await call;
    } catch (error) {
      if (error instanceof HetznerApiError || !isNetworkError(error)) throw error;
      this.unanswered += 1;
      throw new Error(`Hetzner API: ${describeNetworkError(this.endpoint, error)} (${method} ${path.split("?")[0]})`);
    } finally {
      this.inFlight.delete(call);
    }
  }

  /** Requests Hetzner answered, once `settled`. */
  get answered(): number {
    return this.requests - this.unanswered;
  }

  /** Waits for the requests still under way (a failed one ends a command while its siblings run), for an honest count. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  /** HetznerClient.waitForActions, with a progress line naming the actions still running and their progress. */
  override waitForActions(ids: readonly number[], timeoutMs?: number): Promise<HetznerAction[]> {
    const report = progress(this.waits, "waiting for Hetzner");
    return super.waitForActions(ids, timeoutMs, (running) => report.tick(running.map((action) => `${action.command} ${Math.round(action.progress ?? 0)}%`).join(", ")));
  }
}

const labels = z.record(z.string(), z.string()).default({});

export const networkSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    ip_range: z.string(),
    labels,
    subnets: z.array(z.object({ type: z.string(), ip_range: z.string().nullish(), network_zone: z.string() }).loose()).default([]),
    servers: z.array(z.number().int()).default([]),
  })
  .loose();
export type Network = z.infer<typeof networkSchema>;

export const firewallRuleSchema = z
  .object({
    direction: z.enum(["in", "out"]),
    protocol: z.string(),
    port: z.string().nullish(),
    source_ips: z.array(z.string()).default([]),
    destination_ips: z.array(z.string()).default([]),
    description: z.string().nullish(),
  })
  .loose();
export type FirewallRule = z.infer<typeof firewallRuleSchema>;

export const firewallSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    labels,
    rules: z.array(firewallRuleSchema).default([]),
    applied_to: z.array(z.object({ type: z.string(), server: z.object({ id: z.number().int() }).loose().nullish() }).loose()).default([]),
  })
  .loose();
export type Firewall = z.infer<typeof firewallSchema>;

export const placementGroupSchema = z
  .object({ id: z.number().int(), name: z.string(), type: z.string(), labels, servers: z.array(z.number().int()).default([]) })
  .loose();
export type PlacementGroup = z.infer<typeof placementGroupSchema>;

export const sshKeySchema = z.object({ id: z.number().int(), name: z.string(), fingerprint: z.string(), labels }).loose();
export type SshKey = z.infer<typeof sshKeySchema>;

export const volumeSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    size: z.number(),
    server: z.number().int().nullable(),
    status: z.string(),
    labels,
    location: z.object({ name: z.string() }).loose(),
    linux_device: z.string().nullish(),
  })
  .loose();
export type Volume = z.infer<typeof volumeSchema>;

/** A rule as the API takes it: addresses only for the rule's direction, a port only for tcp/udp. */
const requestRule = (rule: FirewallRule) => ({
  direction: rule.direction,
  protocol: rule.protocol,
  ...(rule.port ? { port: rule.port } : {}),
  ...(rule.direction === "in" ? { source_ips: rule.source_ips } : { destination_ips: rule.destination_ips }),
  ...(rule.description ? { description: rule.description } : {}),
});

const withActions = z.object({ actions: z.array(actionSchema).default([]) }).loose();
const withAction = z.object({ action: actionSchema }).loose();


export class HcloudResources {
  constructor(readonly client: HetznerClient) {}

  listNetworks = (labelSelector: string) => this.client.listAll("/networks", "networks", networkSchema, { label_selector: labelSelector });
  listFirewalls = (labelSelector: string) => this.client.listAll("/firewalls", "firewalls", firewallSchema, { label_selector: labelSelector });
  listPlacementGroups = (labelSelector: string) => this.client.listAll("/placement_groups", "placement_groups", placementGroupSchema, { label_selector: labelSelector });
  listSshKeys = (query: { labelSelector?: string; fingerprint?: string }) =>
    this.client.listAll("/ssh_keys", "ssh_keys", sshKeySchema, { label_selector: query.labelSelector, fingerprint: query.fingerprint });
  listVolumes = (labelSelector: string) => this.client.listAll("/volumes", "volumes", volumeSchema, { label_selector: labelSelector });

  async createNetwork(body: { name: string; ip_range: string; labels: Record<string, string>; subnets: { type: "cloud"; network_zone: string; ip_range: string }[] }): Promise<Network> {
    return (await this.client.request("POST", "/networks", z.object({ network: networkSchema }).loose(), body)).network;
  }

  async createFirewall(body: { name: string; labels: Record<string, string>; rules: FirewallRule[] }): Promise<{ firewall: Firewall; actions: HetznerAction[] }> {
    const result = await this.client.request("POST", "/firewalls", z.object({ firewall: firewallSchema, actions: z.array(actionSchema).default([]) }).loose(), { ...body, rules: body.rules.map(requestRule) });
    return { firewall: result.firewall, actions: result.actions };
  }

  async setFirewallRules(id: number, rules: FirewallRule[]): Promise<HetznerAction[]> {
    return (await this.client.request("POST", `/firewalls/${id}/actions/set_rules`, withActions, { rules: rules.map(requestRule) })).actions;
  }

  async applyFirewallToServers(id: number, serverIds: number[]): Promise<HetznerAction[]> {
    const apply_to = serverIds.map((server) => ({ type: "server", server: { id: server } }));
    return (await this.client.request("POST", `/firewalls/${id}/actions/apply_to_resources`, withActions, { apply_to })).actions;
  }

  async removeFirewallFromServers(id: number, serverIds: number[]): Promise<HetznerAction[]> {
    const remove_from = serverIds.map((server) => ({ type: "server", server: { id: server } }));
    return (await this.client.request("POST", `/firewalls/${id}/actions/remove_from_resources`, withActions, { remove_from })).actions;
  }

  async createPlacementGroup(body: { name: string; labels: Record<string, string> }): Promise<PlacementGroup> {
    return (await this.client.request("POST", "/placement_groups", z.object({ placement_group: placementGroupSchema }).loose(), { ...body, type: "spread" })).placement_group;
  }

  async createSshKey(body: { name: string; public_key: string; labels: Record<string, string> }): Promise<SshKey> {
    return (await this.client.request("POST", "/ssh_keys", z.object({ ssh_key: sshKeySchema }).loose(), body)).ssh_key;
  }

  /** Creates the volume attached to `server` (formatted; mounted by the node's own udev rule, not Hetzner's automount). */
  async createVolume(body: { name: string; size: number; server: number; format: string; labels: Record<string, string> }): Promise<{ volume: Volume; actions: HetznerAction[] }> {
    const result = await this.client.request("POST", "/volumes", z.object({ volume: volumeSchema, action: actionSchema, next_actions: z.array(actionSchema).default([]) }).loose(), { ...body, automount: false });
    return { volume: result.volume, actions: [result.action, ...result.next_actions] };
  }

  async attachVolume(id: number, server: number): Promise<HetznerAction> {
    return (await this.client.request("POST", `/volumes/${id}/actions/attach`, withAction, { server, automount: false })).action;
  }

  async detachVolume(id: number): Promise<HetznerAction> {
    return (await this.client.request("POST", `/volumes/${id}/actions/detach`, withAction, {})).action;
  }

  async powerOn(server: number): Promise<HetznerAction> {
    return (await this.client.request("POST", `/servers/${server}/actions/poweron`, withAction, {})).action;
  }

  /**
   * ACPI shutdown: the guest flushes its disks and powers off, if it reacts. The action only says
   * the signal was sent (docs.hetzner.cloud, "Shutdown a Server", checked 2026-12-06): wait for
   * the status `off` with `waitForStatus`, and `powerOff` when it does not come.
   */
  async shutdown(server: number): Promise<HetznerAction> {
    return (await this.client.request("POST", `/servers/${server}/actions/shutdown`, withAction, {})).action;
  }

  /** Cuts the power whatever the guest does (data it has not written yet is lost). */
  async powerOff(server: number): Promise<HetznerAction> {
    return (await this.client.request("POST", `/servers/${server}/actions/poweroff`, withAction, {})).action;
  }

  /** Polls the server until its status is `status`: true then, false once `timeoutMs` passed; throws when the server is gone. */
  async waitForStatus(
    server: number,
    status: string,
    wait: { timeoutMs: number; pollIntervalMs: number; sleep: (ms: number) => Promise<void>; now: () => number; waiting?: (current: string) => void },
  ): Promise<boolean> {
    const deadline = wait.now() + wait.timeoutMs;
    for (;;) {
      const found = await this.client.getServer(server);
      if (!found) throw new Error(`server ${server} is gone while waiting for it to be ${status}`);
      if (found.status === status) return true;
      if (wait.now() >= deadline) return false;
      wait.waiting?.(found.status);
      await wait.sleep(wait.pollIntervalMs);
    }
  }

  async createSnapshot(server: number, body: { description: string; labels: Record<string, string> }): Promise<{ image: HetznerImage; action: HetznerAction }> {
    const result = await this.client.request("POST", `/servers/${server}/actions/create_image`, z.object({ image: imageSchema, action: actionSchema }).loose(), { ...body, type: "snapshot" });
    return { image: result.image, action: result.action };
  }

  /**
   * Replaces the resource's labels (PUT /{kind}/{id} {labels}: Hetzner keeps exactly the set sent,
   * so callers send the labels it has plus the ones to add). Checked against hcloud-go v2.47.0
   * `hcloud/schema/*UpdateRequest`, 2026-12-06.
   */
  async setLabels(kind: "networks" | "firewalls" | "placement_groups" | "servers" | "volumes" | "images", id: number, labels: Record<string, string>): Promise<void> {
    await this.client.request("PUT", `/${kind}/${id}`, z.unknown(), { labels });
  }

  /** Deletes by kind and id; false when it was already gone. */
  async delete(kind: "networks" | "firewalls" | "placement_groups" | "ssh_keys" | "volumes" | "images", id: number): Promise<boolean> {
    try {
      await this.client.request("DELETE", `/${kind}/${id}`, z.unknown());
      return true;
    } catch (error) {
      // 404: gone already, which is what a delete wants.
      if (error instanceof HetznerApiError && error.status === 404) return false;
      throw error;
    }
  }
}
