// A fake Hetzner Cloud API (https://docs.hetzner.cloud, base URL `${url}/v1`) following the
// documented JSON contract, for tests of provisioning code that talks to Hetzner over HTTP.
// The rate limit, the actions list's paging, the ACPI shutdown and image status were checked
// again on 2026-12-06 against the API description (docs.hetzner.cloud: Rate Limiting, Pagination,
// Actions, "Shutdown a Server", image `status`) and hcloud-go main at b8cfa39 (v2.47.0 + 9).
//
// Contract, as the docs describe it:
// - Auth: every API request needs `Authorization: Bearer <token>`; otherwise 401
//   `{"error":{"code":"unauthorized","message":"unable to authenticate","details":{}}}`.
// - Errors: always `{"error":{"code","message","details"}}`, with the status the docs' error table
//   gives each code: 400 json_error; 401 unauthorized; 403 forbidden, maintenance,
//   resource_limit_exceeded; 404 not_found; 405 method_not_allowed; 409 uniqueness_error, conflict;
//   410 deprecated_api_endpoint; 412 resource_unavailable; 422 invalid_input, service_error,
//   unsupported_error; 423 locked, protected; 429 rate_limit_exceeded; 500 server_error; 503
//   unavailable; 504 timeout. Operation-specific codes keep their documented status (422
//   placement_error, no_subnet_available, resource_in_use, firewall_already_applied,
//   server_already_added, firewall_resource_not_found on POST /firewalls; 404
//   firewall_resource_not_found on apply_to_resources). invalid_input carries `details.fields:
//   [{name, messages}]` and the message "invalid input in field 'x'"; uniqueness_error carries
//   `details.fields: [{name}]`.
// - Rate limit: a bucket of `rateLimit` requests per hour (default 3600) that refills gradually,
//   limit/3600 requests per second (one per second at 3600). Every API response (also 401, 404
//   and 429) carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (unix seconds
//   when the whole bucket is full again: about an hour away at Remaining 0, although one request
//   comes back every second). Every request counts, whether it is authenticated or not; an empty
//   bucket answers 429 `rate_limit_exceeded` ("limit of N requests per hour reached").
// - Lists: `page` (from 1) and `per_page` (default 25, at most 50; larger values are capped) give
//   `meta.pagination {page, per_page, previous_page, next_page, last_page, total_entries}` and a
//   `Link` header (rel prev / next / last). `sort=field[:asc|:desc]` (repeatable; id, name, created
//   where the docs allow them; default id ascending), `name=` (exact), `label_selector=`: `k=v`,
//   `k==v`, `k!=v` (also true when k is absent), `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, joined
//   by commas (AND). A bad selector or sort answers 422 invalid_input.
// - Actions `{id, command, status, progress, started, finished, resources: [{id, type}], error}`
//   stay `running` (progress growing from 0) for `actionMs` (default 300 ms), then become
//   `success` (progress 100, `finished` set, `error: null`) — or `error` with `error: {code,
//   message}` when an `actionError` fault says so. Their effects apply when they finish.
//   GET /v1/actions?id=1&id=2 answers `{actions, meta}`, a paginated list like any other (25 per
//   page by default, `per_page` at most 50, so 30 ids without paging answer 25 actions and
//   `next_page: 2`); unknown ids are left out. Without `id` it answers 410
//   deprecated_api_endpoint, since listing all actions was removed on 2025-01-30.
//   GET /v1/actions/{id}.
// - Servers: POST /v1/servers `{name, server_type, image, location? | datacenter?, labels?,
//   user_data?, ssh_keys?, networks?, firewalls?, placement_group?, volumes?, start_after_create?,
//   public_net?}` → 201 `{server, action (create_server), next_actions ([start_server] unless
//   start_after_create is false), root_password}`. root_password is null when ssh_keys are given,
//   else a generated one (deterministic here). The name must be a unique RFC 1123 hostname (409
//   uniqueness_error); server_type, image, location, ssh keys, networks, firewalls and placement
//   group are looked up by id or name and an unknown one answers 422 invalid_input naming the
//   field; a server type not offered in the location answers invalid_input "unsupported location
//   for server type"; a network without a subnet in the location's network zone answers 422
//   no_subnet_available. The server is `initializing` until create_server finishes, then `running`
//   (or `off` without start_after_create, or when create_server ends in error). user_data (at most
//   32 KiB) is kept but never shown by the API, as at Hetzner; GET /__fake/servers shows it.
//   GET /v1/servers (name, label_selector, status, sort, paging), GET /v1/servers/{id}.
//   DELETE /v1/servers/{id} → 200 `{action}` (delete_server): the server shows `deleting` and
//   disappears when the action succeeds (stricter than the docs' "immediately removes"); its
//   volumes, firewalls, networks and placement group are detached and its backup images deleted.
//   POST /v1/servers/{id}/actions/poweroff (stop_server → off), poweron (start_server → running),
//   shutdown → 201 `{action}`; create_image `{description?, type?: "snapshot", labels?}` → 201
//   `{image (status creating until the action finishes, then available), action (create_image)}`.
//   shutdown only sends the ACPI signal: its shutdown_server action succeeds once the signal is
//   sent, and the server stays `running` until its guest powers off, `acpiShutdownMs` later
//   (default: actionMs), or never when the guest ignores ACPI (POST /__fake/acpi); poweroff cuts
//   the power whatever the guest does. (The docs: "the action status in this case only reflects
//   whether the action was sent to the server … If you need to ensure that the server is off, use
//   the poweroff action".) While an action on the server runs these answer 423 locked; a second
//   DELETE while deleting does too.
// - Images: system images debian-12, debian-13, ubuntu-22.04 and ubuntu-24.04, each for x86 and
//   arm (a name picks the one matching the server type's architecture), plus snapshots made by
//   create_image or seeded through POST /__fake/images. GET /v1/images (type, status,
//   architecture, name, label_selector, bound_to, include_deprecated, sort, paging; type, status
//   and architecture repeatable), GET and DELETE /v1/images/{id} (204; only snapshot and backup
//   images, else 422 unsupported_error). (Checked 2026-12-06 against hcloud-go v2.47.0
//   `hcloud/image.go` ImageListOpts and `hcloud/schema/image.go`: the same query names and image
//   fields.)
// - Networks: POST /v1/networks `{name, ip_range (private RFC 1918 CIDR), labels?, subnets?: [{type:
//   cloud|server|vswitch, network_zone, ip_range? (first free /24 when omitted), vswitch_id?}],
//   routes?}` → 201 `{network}`; subnets get `gateway` = first address of the network range. A
//   server attached at creation gets a `private_net` address from the first cloud/server subnet of
//   its zone. GET list/one, DELETE → 204 (attached servers are detached).
// - Firewalls: POST /v1/firewalls `{name, labels?, rules?: [{direction in|out, protocol
//   tcp|udp|icmp|esp|gre, port? (tcp/udp only, required there), source_ips | destination_ips,
//   description?}], apply_to?: [{type: server, server: {id}} | {type: label_selector,
//   label_selector: {selector}}]}` → 201 `{firewall, actions}` (set_firewall_rules, then one
//   apply_firewall per target). POST .../actions/apply_to_resources, remove_from_resources and
//   set_rules → 201 `{actions}`; set_rules `{rules}` replaces every rule and answers
//   set_firewall_rules plus one apply_firewall per server the firewall is on. DELETE → 204, or 422
//   resource_in_use while applied to a server. (Checked 2026-12-06 against hcloud-go v2.47.0 (main
//   at b8cfa39) `hcloud/schema/firewall.go` FirewallActionSetRulesRequest/Response and
//   FirewallRuleRequest, and the API reference's set_rules example answer, whose actions are
//   set_firewall_rules and apply_firewall.)
// - Placement groups: POST `{name, type: "spread", labels?}` → 201 `{placement_group: {id, name,
//   labels, type, created, servers}}`; list (type filter), get, DELETE → 204.
// - SSH keys: POST `{name, public_key, labels?}` → 201 `{ssh_key}`, `fingerprint` = MD5 of the
//   key's base64 body as colon-separated hex; the same name or the same fingerprint answers 409
//   uniqueness_error; a key that does not parse answers invalid_input. List (fingerprint filter),
//   get, DELETE → 204.
// - Volumes: POST `{name, size (10–10240 GB), location | server, labels?, format? xfs|ext4,
//   automount?}` → 201 `{volume (status creating until create_volume finishes), action,
//   next_actions ([attach_volume] with a server)}`. DELETE → 204, or 422 service_error "volume
//   with ID 'x' is still attached to a server" (the API's own message); POST
//   .../actions/detach → 201 `{action}` (detach_volume); POST .../actions/attach `{server,
//   automount?}` → 201 `{action}` (attach_volume; 422 volume_already_attached when attached).
//   (Checked 2026-12-06 against hcloud-go v2.47.0 `hcloud/schema/volume.go`: VolumeCreateRequest
//   {name, size, server?, location?, labels?, automount?, format?}, the answer's volume, action and
//   next_actions, and a volume's fields id, name, server, status, location, size, format,
//   protection, labels, linux_device, created.)
// - Catalog: GET /v1/server_types (cx23, cpx22, cpx32, cax11 (arm, EU only), ccx13),
//   /v1/locations (fsn1, nbg1, hel1, ash, hil, sin), /v1/datacenters, and /{id} of each.
// - Updates: PUT /v1/{servers,volumes,firewalls,networks,placement_groups,ssh_keys}/{id} `{name?,
//   labels?}` and PUT /v1/images/{id} `{description?, type?: "snapshot", labels?}` → 200 with the
//   resource; `labels` replaces the whole set (the docs: "the set of Labels provided in the request
//   will overwrite the existing one"), a taken name answers 409 uniqueness_error. Checked against
//   hcloud-go v2.47.0 `hcloud/schema/*UpdateRequest`, 2026-12-06.
// Anything else answers 404 not_found, or 405 method_not_allowed for a known path.
//
// Tests drive it through /__fake/* (no auth, no rate limit, not logged). State is keyed by the
// names, labels and paths tests choose, so several test files can share one instance:
// - POST /__fake/faults {method?, path, body?, status?, code, message?, details?, count? = 1,
//   actionError?} arms a fault: the next `count` authenticated API requests whose method matches
//   and whose path matches the regex `path` (tested against the full path, e.g. `/v1/servers`,
//   and against the path without `/v1`), and whose JSON body text matches the regex `body` when
//   given, answer `status` (default: the docs' status for `code`) with that error; a 429 also
//   carries `RateLimit-Remaining: 0`. With `actionError: true` the request succeeds but the
//   actions it starts end in status "error" with `{code, message}`. DELETE /__fake/faults forgets
//   them all; GET /__fake/faults lists them.
// - GET /__fake/servers?label_selector=&name= lists `{id, name, status, labels, created,
//   user_data, server_type, location, image, ssh_keys, networks, ipv4, ipv6 (the /64),
//   placement_group, root_password}` of existing servers.
// - POST /__fake/images {description, labels?, created?, type? (snapshot | backup), architecture?,
//   os_flavor?, os_version?, disk_size?, image_size?, bound_to?, deprecated?, status? (available |
//   creating), availableAfterSeconds?, protected?} seeds an image and answers 201 `{image}`. A
//   `creating` one becomes available `availableAfterSeconds` later (fake clock), or stays creating
//   without it; a protected one shows `protection: {delete: true}` and its DELETE answers 423
//   protected.
// - POST /__fake/acpi {name? (regex), label_selector?, ignore?, shutdownSeconds?} says how the
//   guests of matching servers answer an ACPI shutdown (the newest matching rule wins, checked
//   when the signal arrives): `ignore: true` never powers off; otherwise off `shutdownSeconds`
//   after the signal. DELETE forgets every rule; GET lists them.
// - GET /__fake/requests?path=<regex>&method= lists `{method, path, query, body, at}` (at = ms,
//   fake clock) of the API requests received, oldest first; DELETE /__fake/requests?path= forgets.
// - POST /__fake/actions {actionMs} sets how long actions started from now on stay running (a
//   test that watches progress lines needs them to outlast a poll on a loaded machine).
// - POST /__fake/clock {advanceSeconds} moves the fake clock forward (actions finish, the rate
//   bucket refills, timestamps move); it answers `{now}`.
// - GET /__fake/rate-limit shows the bucket; POST /__fake/rate-limit {remaining?, limit?} sets it.
import { createHash } from "node:crypto";
import { startFake, type FakeRequest, type FakeResponse, type RunningFake } from "./http-fake.ts";

export type FakeHetznerOptions = {
  /** The API token clients must send as `Authorization: Bearer <token>`; default FAKE_HCLOUD_TOKEN. */
  token?: string;
  /** How long an action stays "running" before it finishes; default 300 ms. */
  actionMs?: number;
  /** RateLimit-Limit: requests per hour, the size of the bucket (refilled limit/3600 per second); default 3600. */
  rateLimit?: number;
  /** How long a guest takes to power off after an ACPI shutdown; default actionMs. */
  acpiShutdownMs?: number;
  /**
   * The public IPv4 every new server gets; default a distinct one per server in 198.18.0.0/15.
   * 127.0.0.1 lets a simulated runner on this machine call from its server's address. (As at
   * Hetzner, `public_net.ipv4.ip` is an address and `public_net.ipv6.ip` the server's /64
   * network, e.g. "2a01:4f8:1c11:3400::/64": hcloud-go v2.x `hcloud/schema` and its schema
   * tests, checked 2026-12-06.)
   */
  serverIpv4?: string;
};

export const FAKE_HCLOUD_TOKEN = "fake-hcloud-token";

const DEFAULT_ACTION_MS = 300;
const DEFAULT_RATE_LIMIT = 3600;
const DEFAULT_PER_PAGE = 25;
const MAX_PER_PAGE = 50;
const MAX_USER_DATA = 32 * 1024;

/** The status the docs' error table gives each error code (docs.hetzner.cloud, "Errors"). */
const STATUS_OF_CODE: Record<string, number> = {
  json_error: 400,
  unauthorized: 401,
  token_readonly: 401,
  forbidden: 403,
  maintenance: 403,
  resource_limit_exceeded: 403,
  not_found: 404,
  method_not_allowed: 405,
  uniqueness_error: 409,
  conflict: 409,
  deprecated_api_endpoint: 410,
  resource_unavailable: 412,
  primary_ip_version_mismatch: 412,
  invalid_input: 422,
  service_error: 422,
  unsupported_error: 422,
  placement_error: 422,
  no_subnet_available: 422,
  resource_in_use: 422,
  firewall_already_applied: 422,
  volume_already_attached: 422,
  no_space_left_in_location: 422,
  locked: 423,
  protected: 423,
  rate_limit_exceeded: 429,
  server_error: 500,
  unavailable: 503,
  timeout: 504,
};

/** Default messages and details of faults, per code. */
const FAULT_DEFAULTS: Record<string, { message: string; details?: unknown }> = {
  forbidden: { message: "insufficient permissions" },
  maintenance: { message: "cannot perform operation due to maintenance" },
  resource_limit_exceeded: { message: "project limit exceeded", details: { limits: [{ name: "project_limit" }] } },
  not_found: { message: "not found" },
  uniqueness_error: { message: "name is already used", details: { fields: [{ name: "name" }] } },
  conflict: { message: "the resource has changed during the request, please retry" },
  resource_unavailable: { message: "server type is currently unavailable in this location" },
  invalid_input: { message: "invalid input", details: { fields: [] } },
  service_error: { message: "error within a service" },
  placement_error: { message: "error during placement" },
  locked: { message: "resource is locked" },
  protected: { message: "resource is protected" },
  rate_limit_exceeded: { message: "limit of 3600 requests per hour reached" },
  server_error: { message: "internal server error" },
  unavailable: { message: "service is currently not available" },
  timeout: { message: "request timeout" },
  action_failed: { message: "Action failed" },
};

type Labels = Record<string, string>;
type Json = Record<string, unknown>;
type Query = Record<string, string | string[]>;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = {},
  ) {
    super(message);
  }
}

const apiError = (code: string, message: string, details: unknown = {}) => new ApiError(STATUS_OF_CODE[code] ?? 422, code, message, details);
const notFound = (what: string) => apiError("not_found", `${what} not found`);
type FieldError = { name: string; messages: string[] };
function invalidInput(fields: FieldError[]): ApiError {
  const names = fields.map((field) => `'${field.name}'`).join(", ");
  const message =
    fields.length === 1 && fields[0] ? `invalid input in field ${names}: ${fields[0].messages.join(", ")}` : `invalid input in fields ${names}`;
  return apiError("invalid_input", message, { fields });
}
const invalidField = (name: string, message: string) => invalidInput([{ name, messages: [message] }]);
const uniqueness = (field: string, message: string) => apiError("uniqueness_error", message, { fields: [{ name: field }] });

const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value > 0;
const asIdOrName = (value: unknown): number | string | undefined =>
  isId(value) ? value : typeof value === "string" && value.length > 0 ? (/^\d+$/.test(value) ? Number(value) : value) : undefined;

/** RFC 3339 without fractional seconds, as the API writes times. */
const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

// ---------------------------------------------------------------------------------------------
// Catalog

type Location = {
  id: number;
  name: string;
  description: string;
  country: string;
  city: string;
  latitude: number;
  longitude: number;
  network_zone: string;
};
const LOCATIONS: Location[] = [
  { id: 1, name: "fsn1", description: "Falkenstein DC Park 1", country: "DE", city: "Falkenstein", latitude: 50.47612, longitude: 12.370071, network_zone: "eu-central" },
  { id: 2, name: "nbg1", description: "Nuremberg DC Park 1", country: "DE", city: "Nuremberg", latitude: 49.452102, longitude: 11.076665, network_zone: "eu-central" },
  { id: 3, name: "hel1", description: "Helsinki DC Park 1", country: "FI", city: "Helsinki", latitude: 60.169855, longitude: 24.938379, network_zone: "eu-central" },
  { id: 4, name: "ash", description: "Ashburn, VA", country: "US", city: "Ashburn, VA", latitude: 39.045821, longitude: -77.487073, network_zone: "us-east" },
  { id: 5, name: "hil", description: "Hillsboro, OR", country: "US", city: "Hillsboro, OR", latitude: 45.54222, longitude: -122.951924, network_zone: "us-west" },
  { id: 6, name: "sin", description: "Singapore", country: "SG", city: "Singapore", latitude: 1.283333, longitude: 103.833333, network_zone: "ap-southeast" },
];
const NETWORK_ZONES = new Set(LOCATIONS.map((location) => location.network_zone));
const DATACENTERS = [
  { id: 4, name: "fsn1-dc14", description: "Falkenstein 1 virtual DC 14", location: "fsn1" },
  { id: 2, name: "nbg1-dc3", description: "Nuremberg 1 virtual DC 3", location: "nbg1" },
  { id: 3, name: "hel1-dc2", description: "Helsinki 1 virtual DC 2", location: "hel1" },
  { id: 5, name: "ash-dc1", description: "Ashburn virtual DC 1", location: "ash" },
  { id: 6, name: "hil-dc1", description: "Hillsboro virtual DC 1", location: "hil" },
  { id: 7, name: "sin-dc1", description: "Singapore virtual DC 1", location: "sin" },
];
type Datacenter = (typeof DATACENTERS)[number];

type ServerType = {
  id: number;
  name: string;
  cores: number;
  memory: number;
  disk: number;
  cpu_type: "shared" | "dedicated";
  architecture: "x86" | "arm";
  category: string;
  hourlyNet: number;
  monthlyNet: number;
  locations: string[];
};
const EU = ["fsn1", "nbg1", "hel1"];
const ALL_LOCATIONS = LOCATIONS.map((location) => location.name);
const SERVER_TYPES: ServerType[] = [
  { id: 1, name: "cx23", cores: 2, memory: 4, disk: 40, cpu_type: "shared", architecture: "x86", category: "Cost-Optimized", hourlyNet: 0.0056, monthlyNet: 3.49, locations: EU },
  { id: 2, name: "cpx22", cores: 2, memory: 4, disk: 80, cpu_type: "shared", architecture: "x86", category: "Regular Purpose", hourlyNet: 0.0096, monthlyNet: 5.99, locations: ALL_LOCATIONS },
  { id: 3, name: "cpx32", cores: 4, memory: 8, disk: 160, cpu_type: "shared", architecture: "x86", category: "Regular Purpose", hourlyNet: 0.0168, monthlyNet: 10.49, locations: ALL_LOCATIONS },
  { id: 4, name: "cax11", cores: 2, memory: 4, disk: 40, cpu_type: "shared", architecture: "arm", category: "Cost-Optimized", hourlyNet: 0.0064, monthlyNet: 3.99, locations: EU },
  { id: 5, name: "ccx13", cores: 2, memory: 8, disk: 80, cpu_type: "dedicated", architecture: "x86", category: "General Purpose", hourlyNet: 0.0224, monthlyNet: 13.99, locations: ALL_LOCATIONS },
];
/** Traffic included per month: 20 TB in the EU, 1 TB in the US and Singapore. */
const includedTraffic = (location: string) => (EU.includes(location) ? 20 * 2 ** 40 : 2 ** 40);
const price = (net: number) => ({ net: net.toFixed(10), gross: (net * 1.19).toFixed(10) });

function renderServerType(type: ServerType): Json {
  return {
    id: type.id,
    name: type.name,
    description: type.name.toUpperCase(),
    cores: type.cores,
    memory: type.memory,
    disk: type.disk,
    deprecated: false,
    prices: type.locations.map((location) => ({
      location,
      price_hourly: price(type.hourlyNet),
      price_monthly: price(type.monthlyNet),
      included_traffic: includedTraffic(location),
      price_per_tb_traffic: price(1),
    })),
    storage_type: "local",
    cpu_type: type.cpu_type,
    category: type.category,
    architecture: type.architecture,
    deprecation: null,
    locations: type.locations.map((name) => ({
      id: LOCATIONS.find((location) => location.name === name)?.id ?? 0,
      name,
      deprecation: null,
      available: true,
      recommended: true,
    })),
  };
}

const locationByName = (name: string): Location => {
  const found = LOCATIONS.find((location) => location.name === name);
  if (!found) throw new Error(`unknown location ${name}`);
  return found;
};

function renderDatacenter(datacenter: Datacenter): Json {
  const typeIds = SERVER_TYPES.filter((type) => type.locations.includes(datacenter.location)).map((type) => type.id);
  return {
    id: datacenter.id,
    name: datacenter.name,
    description: datacenter.description,
    location: { ...locationByName(datacenter.location) },
    server_types: { supported: typeIds, available: typeIds, available_for_migration: typeIds },
  };
}

type ImageRecord = {
  id: number;
  type: "system" | "app" | "snapshot" | "backup";
  status: "available" | "creating" | "unavailable";
  name: string | null;
  description: string;
  image_size: number | null;
  disk_size: number;
  createdMs: number;
  created_from: { id: number; name: string } | null;
  bound_to: number | null;
  os_flavor: string;
  os_version: string | null;
  rapid_deploy: boolean;
  deprecated: string | null;
  labels: Labels;
  architecture: "x86" | "arm";
  /** A seeded `creating` image becomes available then; null: it stays as it is. */
  availableAtMs?: number | null;
  /** protection.delete: DELETE answers 423 protected. */
  deleteProtected?: boolean;
};

const SYSTEM_IMAGES: [string, string, string, string][] = [
  ["debian-12", "Debian 12", "debian", "2023-06-13T06:00:02Z"],
  ["debian-13", "Debian 13", "debian", "2025-08-12T06:00:02Z"],
  ["ubuntu-22.04", "Ubuntu 22.04", "ubuntu", "2022-04-21T13:32:38Z"],
  ["ubuntu-24.04", "Ubuntu 24.04", "ubuntu", "2024-04-25T13:27:04Z"],
];

function renderImage(image: ImageRecord): Json {
  return {
    id: image.id,
    type: image.type,
    status: image.status,
    name: image.name,
    description: image.description,
    image_size: image.image_size,
    disk_size: image.disk_size,
    created: iso(image.createdMs),
    created_from: image.created_from ? { ...image.created_from } : null,
    bound_to: image.bound_to,
    os_flavor: image.os_flavor,
    os_version: image.os_version,
    rapid_deploy: image.rapid_deploy,
    protection: { delete: image.deleteProtected === true },
    deprecated: image.deprecated,
    deleted: null,
    labels: { ...image.labels },
    architecture: image.architecture,
  };
}

// ---------------------------------------------------------------------------------------------
// Labels and label selectors

const LABEL_NAME = /^[a-zA-Z0-9](?:[-_.a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

function labelProblem(key: string, value: unknown): string | null {
  if (typeof value !== "string") return `value of label '${key}' must be a string`;
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (!LABEL_NAME.test(name) || (prefix !== null && !DNS_SUBDOMAIN.test(prefix))) return `label key '${key}' is invalid`;
  if (prefix === "hetzner.cloud") return `label key prefix 'hetzner.cloud/' is reserved`;
  if (value.length > 0 && !LABEL_NAME.test(value)) return `label value '${value}' is invalid`;
  return null;
}

function parseLabels(value: unknown, field = "labels"): Labels {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw invalidField(field, "must be an object");
  const problems = Object.entries(value).map(([key, item]) => labelProblem(key, item)).filter((problem): problem is string => problem !== null);
  if (problems.length > 0) throw invalidInput([{ name: field, messages: problems }]);
  return { ...(value as Labels) };
}

type Selector = (labels: Labels) => boolean;
const SELECTOR_KEY = "[A-Za-z0-9][-A-Za-z0-9_./]*";
const SELECTOR_VALUE = "[-A-Za-z0-9_.]*";

function parseSelector(text: string): Selector {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "(") depth++;
    if (char === ")") depth--;
    if (char === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else current += char;
  }
  terms.push(current);
  if (text.trim() === "") return () => true;
  const requirements = terms.map((raw): Selector => {
    const term = raw.trim();
    let match: RegExpMatchArray | null;
    if ((match = term.match(new RegExp(`^!\\s*(${SELECTOR_KEY})$`)))) {
      const key = match[1] ?? "";
      return (labels) => !(key in labels);
    }
    if ((match = term.match(new RegExp(`^(${SELECTOR_KEY})\\s+(in|notin)\\s*\\(([^()]*)\\)$`)))) {
      const key = match[1] ?? "";
      const values = (match[3] ?? "").split(",").map((value) => value.trim());
      if (values.some((value) => !new RegExp(`^${SELECTOR_VALUE}$`).test(value))) throw invalidField("label_selector", `invalid label selector: ${text}`);
      return match[2] === "in" ? (labels) => key in labels && values.includes(labels[key] ?? "") : (labels) => !(key in labels) || !values.includes(labels[key] ?? "");
    }
    if ((match = term.match(new RegExp(`^(${SELECTOR_KEY})\\s*(==|=|!=)\\s*(${SELECTOR_VALUE})$`)))) {
      const key = match[1] ?? "";
      const value = match[3] ?? "";
      return match[2] === "!=" ? (labels) => labels[key] !== value : (labels) => labels[key] === value;
    }
    if ((match = term.match(new RegExp(`^(${SELECTOR_KEY})$`)))) {
      const key = match[1] ?? "";
      return (labels) => key in labels;
    }
    throw invalidField("label_selector", `invalid label selector: ${text}`);
  });
  return (labels) => requirements.every((requirement) => requirement(labels));
}

// ---------------------------------------------------------------------------------------------
// Query parameters, sorting and pagination

function readQuery(url: URL): Query {
  const query: Query = {};
  for (const [key, value] of url.searchParams) {
    const previous = query[key];
    query[key] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return query;
}
const all = (url: URL, key: string) => url.searchParams.getAll(key);
const one = (url: URL, key: string) => url.searchParams.get(key);

function positiveInt(url: URL, key: string): number | null {
  const raw = one(url, key);
  if (raw === null) return null;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw invalidField(key, "must be a positive integer");
  return Number(raw);
}

function sortItems(url: URL, items: Json[], fields: string[]): Json[] {
  const keys = all(url, "sort").map((raw) => {
    const [field = "", direction = "asc", ...rest] = raw.split(":");
    if (!fields.includes(field) || (direction !== "asc" && direction !== "desc") || rest.length > 0) {
      throw invalidField("sort", `invalid sort '${raw}', allowed: ${fields.join(", ")}`);
    }
    return { field, sign: direction === "asc" ? 1 : -1 };
  });
  const compareValues = (a: unknown, b: unknown): number => {
    if (typeof a === "number" && typeof b === "number") return a - b;
    const left = a === null || a === undefined ? "" : String(a);
    const right = b === null || b === undefined ? "" : String(b);
    return left < right ? -1 : left > right ? 1 : 0;
  };
  return [...items].sort((a, b) => {
    for (const { field, sign } of keys) {
      const order = compareValues(a[field], b[field]);
      if (order !== 0) return order * sign;
    }
    return compareValues(a.id, b.id);
  });
}

type Filter = (item: Json) => boolean;

/** A list response: filters by name and label_selector, sorts, paginates and sets the Link header. */
function listResponse(request: FakeRequest, key: string, items: Json[], options: { sort?: string[]; filters?: Filter[]; selector?: boolean } = {}): FakeResponse {
  const url = request.url;
  const page = positiveInt(url, "page") ?? 1;
  const perPage = Math.min(positiveInt(url, "per_page") ?? DEFAULT_PER_PAGE, MAX_PER_PAGE);
  const filters = [...(options.filters ?? [])];
  const name = one(url, "name");
  if (name !== null) filters.push((item) => item.name === name);
  const selectorText = one(url, "label_selector");
  if (selectorText !== null && options.selector !== false) {
    const selector = parseSelector(selectorText);
    filters.push((item) => selector((item.labels ?? {}) as Labels));
  }
  const matching = sortItems(
    url,
    items.filter((item) => filters.every((filter) => filter(item))),
    options.sort ?? ["id", "name"],
  );
  const total = matching.length;
  const lastPage = Math.max(1, Math.ceil(total / perPage));
  const pagination = {
    page,
    per_page: perPage,
    previous_page: page > 1 ? page - 1 : null,
    next_page: page < lastPage ? page + 1 : null,
    last_page: lastPage,
    total_entries: total,
  };
  const link = (target: number, rel: string) => {
    const params = new URLSearchParams(url.searchParams);
    params.set("page", String(target));
    params.set("per_page", String(perPage));
    return `<http://${request.headers.host ?? "127.0.0.1"}${url.pathname}?${params.toString()}>; rel="${rel}"`;
  };
  const links = [
    ...(pagination.previous_page !== null ? [link(pagination.previous_page, "prev")] : []),
    ...(pagination.next_page !== null ? [link(pagination.next_page, "next")] : []),
    link(lastPage, "last"),
  ];
  return {
    status: 200,
    headers: { link: links.join(", ") },
    body: { [key]: matching.slice((page - 1) * perPage, page * perPage), meta: { pagination } },
  };
}

const multiFilter = (url: URL, key: string, field = key): Filter[] => {
  const values = all(url, key);
  return values.length > 0 ? [(item) => values.includes(String(item[field]))] : [];
};

// ---------------------------------------------------------------------------------------------
// IPv4 helpers for networks

type Cidr = { base: number; prefix: number };
function parseCidr(text: unknown): Cidr | null {
  if (typeof text !== "string") return null;
  const match = text.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/);
  if (!match) return null;
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((octet) => octet > 255) || prefix > 32) return null;
  const base = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  if (base % 2 ** (32 - prefix) !== 0) return null;
  return { base, prefix };
}
const cidrSize = (cidr: Cidr) => 2 ** (32 - cidr.prefix);
const cidrContains = (outer: Cidr, inner: Cidr) => inner.base >= outer.base && inner.base + cidrSize(inner) <= outer.base + cidrSize(outer);
const cidrOverlaps = (a: Cidr, b: Cidr) => a.base < b.base + cidrSize(b) && b.base < a.base + cidrSize(a);
const ipText = (value: number) => [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
const cidrText = (cidr: Cidr) => `${ipText(cidr.base)}/${cidr.prefix}`;
const PRIVATE_RANGES = [parseCidr("10.0.0.0/8"), parseCidr("172.16.0.0/12"), parseCidr("192.168.0.0/16")].filter((cidr): cidr is Cidr => cidr !== null);

// ---------------------------------------------------------------------------------------------
// The fake

type ActionResource = { id: number; type: string };
type ActionRecord = {
  id: number;
  command: string;
  resources: ActionResource[];
  startedMs: number;
  dueMs: number;
  failure: { code: string; message: string } | null;
  done: boolean;
  onSuccess?: () => void;
  onError?: () => void;
};

type ServerStatus = "running" | "initializing" | "starting" | "stopping" | "off" | "deleting" | "migrating" | "rebuilding" | "unknown";
type ServerRecord = {
  id: number;
  name: string;
  status: ServerStatus;
  createdMs: number;
  type: ServerType;
  location: Location;
  datacenter: Datacenter;
  image: Json;
  labels: Labels;
  userData: string | null;
  sshKeys: number[];
  ipv4: { id: number; ip: string } | null;
  ipv6: { id: number; ip: string } | null;
  privateNet: { network: number; ip: string; mac: string }[];
  placementGroup: number | null;
  rootPassword: string | null;
  /** When the guest powers off after an ACPI shutdown it honours; null when none is under way. */
  acpiOffAtMs: number | null;
};

type Subnet = { type: string; cidr: Cidr; network_zone: string; vswitch_id: number | null; nextHost: number };
type NetworkRecord = {
  id: number;
  name: string;
  cidr: Cidr;
  subnets: Subnet[];
  routes: { destination: string; gateway: string }[];
  labels: Labels;
  createdMs: number;
  exposeRoutesToVswitch: boolean;
};

type FirewallRule = {
  description: string | null;
  direction: "in" | "out";
  source_ips: string[];
  destination_ips: string[];
  protocol: string;
  port: string | null;
};
type FirewallTarget = { type: "server"; server: number } | { type: "label_selector"; selector: string };
type FirewallRecord = { id: number; name: string; labels: Labels; createdMs: number; rules: FirewallRule[]; appliedTo: FirewallTarget[] };
type PlacementGroupRecord = { id: number; name: string; labels: Labels; type: "spread"; createdMs: number };
type SshKeyRecord = { id: number; name: string; fingerprint: string; public_key: string; labels: Labels; createdMs: number };
type VolumeRecord = {
  id: number;
  name: string;
  size: number;
  location: Location;
  server: number | null;
  labels: Labels;
  status: "available" | "creating";
  format: string | null;
  createdMs: number;
};

type Fault = {
  id: number;
  method: string | null;
  path: RegExp;
  body: RegExp | null;
  status: number;
  code: string;
  message: string;
  details: unknown;
  remaining: number;
  actionError: boolean;
};
type LoggedRequest = { method: string; path: string; query: Query; body: unknown; at: number };
type AcpiRule = { id: number; name: RegExp | null; selector: string | null; ignore: boolean; shutdownMs: number | null };
type Context = { actionFailure: { code: string; message: string } | null };

export async function startFakeHetzner(options: FakeHetznerOptions = {}, port = 0): Promise<RunningFake> {
  const token = options.token ?? FAKE_HCLOUD_TOKEN;
  let actionMs = options.actionMs ?? DEFAULT_ACTION_MS;
  const acpiShutdownMs = options.acpiShutdownMs ?? actionMs;
  let rateLimit = options.rateLimit ?? DEFAULT_RATE_LIMIT;

  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;

  const counters = { action: 1, server: 10001, primaryIp: 90001, volume: 20001, network: 30001, firewall: 40001, placementGroup: 50001, sshKey: 60001, image: 70001 };
  const actions = new Map<number, ActionRecord>();
  const pending = new Set<ActionRecord>();
  const servers = new Map<number, ServerRecord>();
  const images = new Map<number, ImageRecord>();
  const networks = new Map<number, NetworkRecord>();
  const firewalls = new Map<number, FirewallRecord>();
  const placementGroups = new Map<number, PlacementGroupRecord>();
  const sshKeys = new Map<number, SshKeyRecord>();
  const volumes = new Map<number, VolumeRecord>();
  const faults: Fault[] = [];
  const acpiRules: AcpiRule[] = [];
  const requests: LoggedRequest[] = [];
  let macCounter = 1;

  let systemId = 1;
  for (const [name, description, flavor, created] of SYSTEM_IMAGES) {
    for (const architecture of ["x86", "arm"] as const) {
      const id = systemId++;
      images.set(id, {
        id,
        type: "system",
        status: "available",
        name,
        description,
        image_size: null,
        disk_size: 5,
        createdMs: Date.parse(created),
        created_from: null,
        bound_to: null,
        os_flavor: flavor,
        os_version: name.split("-")[1] ?? null,
        rapid_deploy: true,
        deprecated: null,
        labels: {},
        architecture,
      });
    }
  }

  // --- rate limit: a bucket of `rateLimit` tokens per hour, refilled gradually (one per second at 3600)
  let tokens = rateLimit;
  let refilledAt = now();
  const secondsPerToken = () => 3600 / rateLimit;
  const refill = () => {
    const t = now();
    tokens = Math.min(rateLimit, tokens + Math.max(0, t - refilledAt) / 1000 / secondsPerToken());
    refilledAt = t;
  };
  /** The RateLimit-* headers; `empty` reports an empty bucket (a 429 fault). Reset: when the whole bucket is back. */
  const rateHeaders = (empty = false): Record<string, string> => {
    const level = empty ? 0 : tokens;
    return {
      "ratelimit-limit": String(rateLimit),
      "ratelimit-remaining": String(Math.max(0, Math.floor(level))),
      "ratelimit-reset": String(Math.ceil(now() / 1000 + Math.max(0, rateLimit - level) * secondsPerToken())),
    };
  };

  // --- actions
  function startAction(context: Context, command: string, resources: ActionResource[], effects: { onSuccess?: () => void; onError?: () => void } = {}): ActionRecord {
    const started = now();
    const action: ActionRecord = {
      id: counters.action++,
      command,
      resources,
      startedMs: started,
      dueMs: started + actionMs,
      failure: context.actionFailure,
      done: false,
      ...effects,
    };
    actions.set(action.id, action);
    pending.add(action);
    return action;
  }
  function settle(): void {
    const t = now();
    const due = [...pending].filter((action) => action.dueMs <= t).sort((a, b) => a.dueMs - b.dueMs || a.id - b.id);
    for (const action of due) {
      pending.delete(action);
      action.done = true;
      if (action.failure) action.onError?.();
      else action.onSuccess?.();
    }
    // Guests that honoured an ACPI shutdown power off by themselves.
    for (const server of servers.values()) {
      if (server.acpiOffAtMs === null || server.acpiOffAtMs > t) continue;
      server.acpiOffAtMs = null;
      if (server.status === "running") server.status = "off";
    }
    for (const image of images.values()) {
      if (image.status === "creating" && typeof image.availableAtMs === "number" && image.availableAtMs <= t) {
        image.status = "available";
        image.availableAtMs = null;
      }
    }
  }
  /** How the guest answers an ACPI shutdown: the newest matching /__fake/acpi rule, else off after acpiShutdownMs. */
  const acpiAnswer = (server: ServerRecord): { ignore: boolean; shutdownMs: number } => {
    const rule = [...acpiRules].reverse().find((candidate) => (candidate.name === null || candidate.name.test(server.name)) && (candidate.selector === null || matchesSelector(candidate.selector, server.labels)));
    return { ignore: rule?.ignore ?? false, shutdownMs: rule?.shutdownMs ?? acpiShutdownMs };
  };
  function renderAction(action: ActionRecord): Json {
    const span = Math.max(1, action.dueMs - action.startedMs);
    return {
      id: action.id,
      command: action.command,
      status: action.done ? (action.failure ? "error" : "success") : "running",
      progress: action.done ? 100 : Math.min(99, Math.max(0, Math.floor((100 * (now() - action.startedMs)) / span))),
      started: iso(action.startedMs),
      finished: action.done ? iso(action.dueMs) : null,
      resources: action.resources.map((resource) => ({ ...resource })),
      error: action.done && action.failure ? { ...action.failure } : null,
    };
  }
  const applying = (firewall: number, server: number) =>
    [...pending].some(
      (action) =>
        action.command === "apply_firewall" &&
        action.resources.some((resource) => resource.type === "firewall" && resource.id === firewall) &&
        action.resources.every((resource) => resource.type !== "server" || resource.id === server),
    );
  const busy = (type: string, id: number) => [...pending].some((action) => action.resources.some((resource) => resource.type === type && resource.id === id));

  // --- lookups
  const findByIdOrName = <T extends { id: number; name: string | null }>(items: Iterable<T>, ref: number | string): T | undefined => {
    for (const item of items) if (typeof ref === "number" ? item.id === ref : item.name === ref) return item;
    return undefined;
  };
  const pathId = (raw: string | undefined, what: string): number => {
    if (raw === undefined || !/^\d+$/.test(raw)) throw notFound(what);
    return Number(raw);
  };
  const get = <T>(map: Map<number, T>, raw: string | undefined, what: string): T => {
    const item = map.get(pathId(raw, what));
    if (!item) throw notFound(what);
    return item;
  };
  const nameTaken = <T extends { name: string }>(map: Map<number, T>, name: string) => [...map.values()].some((item) => item.name === name);

  /** PUT: a new name (unique in `map`, checked by `validName`) and/or the whole label set. */
  function updateNamed<T extends { id: number; name: string; labels: Labels }>(map: Map<number, T>, record: T, request: FakeRequest, validName?: (name: string) => void): void {
    const body = objectBody(request);
    const unknown = Object.keys(body).filter((key) => key !== "name" && key !== "labels" && key !== "expose_routes_to_vswitch");
    if (unknown.length > 0) throw invalidField(unknown[0]!, "unknown field");
    const labels = body.labels === undefined ? undefined : parseLabels(body.labels);
    if (body.name !== undefined) {
      const name = requiredString(body, "name");
      validName?.(name);
      if (name !== record.name && nameTaken(map, name)) throw uniqueness("name", "name is already used");
      record.name = name;
    }
    if (labels !== undefined) record.labels = labels;
  }

  // --- rendering
  const matchesSelector = (selector: string, labels: Labels): boolean => {
    try {
      return parseSelector(selector)(labels);
    } catch {
      return false;
    }
  };
  const firewallsOf = (server: ServerRecord) =>
    [...firewalls.values()].filter((firewall) =>
      firewall.appliedTo.some((target) => (target.type === "server" ? target.server === server.id : matchesSelector(target.selector, server.labels))),
    );

  function renderPlacementGroup(group: PlacementGroupRecord): Json {
    return {
      id: group.id,
      name: group.name,
      labels: { ...group.labels },
      type: group.type,
      created: iso(group.createdMs),
      servers: [...servers.values()].filter((server) => server.placementGroup === group.id).map((server) => server.id),
    };
  }

  function renderServer(server: ServerRecord): Json {
    const group = server.placementGroup === null ? undefined : placementGroups.get(server.placementGroup);
    return {
      id: server.id,
      name: server.name,
      status: server.status,
      created: iso(server.createdMs),
      public_net: {
        ipv4: server.ipv4
          ? { id: server.ipv4.id, ip: server.ipv4.ip, blocked: false, dns_ptr: `static.${server.ipv4.ip.split(".").reverse().join(".")}.clients.your-server.de` }
          : null,
        ipv6: server.ipv6 ? { id: server.ipv6.id, ip: server.ipv6.ip, blocked: false, dns_ptr: [] } : null,
        floating_ips: [],
        firewalls: firewallsOf(server).map((firewall) => ({ id: firewall.id, status: applying(firewall.id, server.id) ? "pending" : "applied" })),
      },
      private_net: server.privateNet.map((net) => ({ network: net.network, ip: net.ip, alias_ips: [], mac_address: net.mac })),
      server_type: renderServerType(server.type),
      location: { ...server.location },
      datacenter: renderDatacenter(server.datacenter),
      image: structuredClone(server.image),
      iso: null,
      rescue_enabled: false,
      locked: false,
      backup_window: null,
      outgoing_traffic: 0,
      ingoing_traffic: 0,
      included_traffic: includedTraffic(server.location.name),
      protection: { delete: false, rebuild: false },
      labels: { ...server.labels },
      volumes: [...volumes.values()].filter((volume) => volume.server === server.id).map((volume) => volume.id),
      load_balancers: [],
      primary_disk_size: server.type.disk,
      placement_group: group ? renderPlacementGroup(group) : null,
    };
  }

  function renderNetwork(network: NetworkRecord): Json {
    return {
      id: network.id,
      name: network.name,
      ip_range: cidrText(network.cidr),
      subnets: network.subnets.map((subnet) => ({
        type: subnet.type,
        ip_range: cidrText(subnet.cidr),
        network_zone: subnet.network_zone,
        gateway: ipText(network.cidr.base + 1),
        ...(subnet.type === "vswitch" ? { vswitch_id: subnet.vswitch_id } : {}),
      })),
      routes: network.routes.map((route) => ({ ...route })),
      servers: [...servers.values()].filter((server) => server.privateNet.some((net) => net.network === network.id)).map((server) => server.id),
      load_balancers: [],
      protection: { delete: false },
      labels: { ...network.labels },
      created: iso(network.createdMs),
      expose_routes_to_vswitch: network.exposeRoutesToVswitch,
    };
  }

  function renderFirewall(firewall: FirewallRecord): Json {
    return {
      id: firewall.id,
      name: firewall.name,
      labels: { ...firewall.labels },
      created: iso(firewall.createdMs),
      rules: firewall.rules.map((rule) => ({ ...rule, source_ips: [...rule.source_ips], destination_ips: [...rule.destination_ips] })),
      applied_to: firewall.appliedTo.map((target) =>
        target.type === "server"
          ? { type: "server", server: { id: target.server } }
          : {
              type: "label_selector",
              label_selector: { selector: target.selector },
              applied_to_resources: [...servers.values()]
                .filter((server) => matchesSelector(target.selector, server.labels))
                .map((server) => ({ type: "server", server: { id: server.id } })),
            },
      ),
    };
  }

  const renderSshKey = (key: SshKeyRecord): Json => ({
    id: key.id,
    name: key.name,
    fingerprint: key.fingerprint,
    public_key: key.public_key,
    labels: { ...key.labels },
    created: iso(key.createdMs),
  });

  const renderVolume = (volume: VolumeRecord): Json => ({
    id: volume.id,
    created: iso(volume.createdMs),
    name: volume.name,
    server: volume.server,
    location: { ...volume.location },
    size: volume.size,
    linux_device: `/dev/disk/by-id/scsi-0HC_Volume_${volume.id}`,
    protection: { delete: false },
    labels: { ...volume.labels },
    status: volume.status,
    format: volume.format,
  });

  // --- request bodies
  const objectBody = (request: FakeRequest): Json => {
    if (request.body === undefined) return {};
    if (!isRecord(request.body)) throw apiError("json_error", "invalid JSON in request body");
    return request.body;
  };
  const requiredString = (body: Json, field: string): string => {
    const value = body[field];
    if (value === undefined || value === null || value === "") throw invalidField(field, "is required");
    if (typeof value !== "string") throw invalidField(field, "must be a string");
    return value;
  };
  const optionalIdList = (body: Json, field: string): (number | string)[] => {
    const value = body[field];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw invalidField(field, "must be an array");
    return value.map((item) => {
      const ref = asIdOrName(item);
      if (ref === undefined) throw invalidField(field, "must contain IDs or names");
      return ref;
    });
  };

  // --- servers
  const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$/;

  function createServer(request: FakeRequest, context: Context): FakeResponse {
    const body = objectBody(request);
    const name = requiredString(body, "name");
    if (!HOSTNAME.test(name)) throw invalidField("name", "must be a valid hostname (RFC 1123)");
    const labels = parseLabels(body.labels);
    const typeRef = asIdOrName(body.server_type);
    if (typeRef === undefined) throw invalidField("server_type", "is required");
    const type = findByIdOrName(SERVER_TYPES, typeRef);
    if (!type) throw invalidField("server_type", "server type not found");
    const imageRef = asIdOrName(body.image);
    if (imageRef === undefined) throw invalidField("image", "is required");
    const image =
      typeof imageRef === "number"
        ? images.get(imageRef)
        : [...images.values()].find((candidate) => candidate.name === imageRef && candidate.architecture === type.architecture) ??
          [...images.values()].find((candidate) => candidate.name === imageRef);
    if (!image || image.status !== "available") throw invalidField("image", "image not found");
    if (image.architecture !== type.architecture) throw invalidField("image", "image architecture does not match server type");
    if (body.location !== undefined && body.location !== null && body.datacenter !== undefined && body.datacenter !== null) {
      throw invalidInput([
        { name: "location", messages: ["must not be used together with datacenter"] },
        { name: "datacenter", messages: ["must not be used together with location"] },
      ]);
    }
    let location: Location;
    let datacenter: Datacenter | undefined;
    if (body.datacenter !== undefined && body.datacenter !== null) {
      const ref = asIdOrName(body.datacenter);
      datacenter = ref === undefined ? undefined : findByIdOrName(DATACENTERS, ref);
      if (!datacenter) throw invalidField("datacenter", "datacenter not found");
      location = locationByName(datacenter.location);
    } else if (body.location !== undefined && body.location !== null) {
      const ref = asIdOrName(body.location);
      const found = ref === undefined ? undefined : findByIdOrName(LOCATIONS, ref);
      if (!found) throw invalidField("location", "location not found");
      location = found;
    } else {
      location = locationByName(type.locations[0] ?? "fsn1");
    }
    if (!type.locations.includes(location.name)) throw invalidField("server_type", "unsupported location for server type");
    datacenter ??= DATACENTERS.find((candidate) => candidate.location === location.name);
    if (!datacenter) throw invalidField("location", "location not found");
    if (body.user_data !== undefined && body.user_data !== null && typeof body.user_data !== "string") throw invalidField("user_data", "must be a string");
    const userData = typeof body.user_data === "string" ? body.user_data : null;
    if (userData !== null && Buffer.byteLength(userData, "utf8") > MAX_USER_DATA) throw invalidField("user_data", "is too long (maximum is 32 KiB)");
    if (body.start_after_create !== undefined && typeof body.start_after_create !== "boolean") throw invalidField("start_after_create", "must be a boolean");
    const keyIds = optionalIdList(body, "ssh_keys").map((ref) => {
      const key = findByIdOrName(sshKeys.values(), ref);
      if (!key) throw invalidField("ssh_keys", `ssh key ${ref} not found`);
      return key.id;
    });
    const networkRecords = optionalIdList(body, "networks").map((ref) => {
      const network = typeof ref === "number" ? networks.get(ref) : undefined;
      if (!network) throw invalidField("networks", `network ${ref} not found`);
      return network;
    });
    const subnets = networkRecords.map((network) => {
      const subnet = network.subnets.find((candidate) => candidate.type !== "vswitch" && candidate.network_zone === location.network_zone);
      if (!subnet) throw apiError("no_subnet_available", `no subnet or IP available in network ${network.id} for network zone ${location.network_zone}`);
      return { network, subnet };
    });
    const firewallIds: number[] = [];
    if (body.firewalls !== undefined && body.firewalls !== null) {
      if (!Array.isArray(body.firewalls)) throw invalidField("firewalls", "must be an array");
      for (const item of body.firewalls as unknown[]) {
        const id = isRecord(item) ? item.firewall : undefined;
        if (!isId(id) || !firewalls.has(id)) throw invalidField("firewalls", "firewall not found");
        firewallIds.push(id);
      }
    }
    let placementGroup: number | null = null;
    if (body.placement_group !== undefined && body.placement_group !== null) {
      if (!isId(body.placement_group) || !placementGroups.has(body.placement_group)) throw invalidField("placement_group", "placement group not found");
      placementGroup = body.placement_group;
    }
    const volumeRecords = optionalIdList(body, "volumes").map((ref) => {
      const volume = typeof ref === "number" ? volumes.get(ref) : undefined;
      if (!volume) throw invalidField("volumes", `volume ${ref} not found`);
      if (volume.location.name !== location.name) throw invalidField("volumes", `volume ${ref} is in another location`);
      if (volume.server !== null) throw invalidField("volumes", `volume ${ref} is already attached`);
      return volume;
    });
    const publicNet = isRecord(body.public_net) ? body.public_net : {};
    if (nameTaken(servers, name)) throw uniqueness("name", "server name is already used");

    const id = counters.server++;
    const sequence = id - 10000;
    const ipv4 =
      publicNet.enable_ipv4 === false
        ? null
        : { id: counters.primaryIp++, ip: options.serverIpv4 ?? `198.${18 + (Math.floor((sequence - 1) / (254 * 256)) % 2)}.${Math.floor((sequence - 1) / 254) % 256}.${1 + ((sequence - 1) % 254)}` };
    const ipv6 = publicNet.enable_ipv6 === false ? null : { id: counters.primaryIp++, ip: `2001:db8:${(sequence % 0xffff).toString(16)}::/64` };
    const startAfterCreate = body.start_after_create !== false;
    const server: ServerRecord = {
      id,
      name,
      status: "initializing",
      createdMs: now(),
      type,
      location,
      datacenter,
      image: renderImage(image),
      labels,
      userData,
      sshKeys: keyIds,
      ipv4,
      ipv6,
      privateNet: subnets.map(({ network, subnet }) => {
        const mac = macCounter++;
        return {
          network: network.id,
          ip: ipText(subnet.cidr.base + subnet.nextHost++),
          mac: `86:00:00:${[16, 8, 0].map((shift) => (Math.floor(mac / 2 ** shift) % 256).toString(16).padStart(2, "0")).join(":")}`,
        };
      }),
      placementGroup,
      acpiOffAtMs: null,
      rootPassword:
        keyIds.length > 0
          ? null
          : createHash("sha256").update(`root-password-${id}`).digest("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, 20),
    };
    servers.set(id, server);
    for (const firewallId of firewallIds) firewalls.get(firewallId)?.appliedTo.push({ type: "server", server: id });
    for (const volume of volumeRecords) volume.server = id;
    const resources = [{ id, type: "server" }];
    const action = startAction(context, "create_server", resources, {
      onSuccess: () => {
        if (server.status === "initializing") server.status = startAfterCreate ? "starting" : "off";
      },
      onError: () => {
        if (server.status === "initializing") server.status = "off";
      },
    });
    const nextActions = startAfterCreate
      ? [
          startAction(context, "start_server", [{ id, type: "server" }], {
            onSuccess: () => {
              if (server.status === "starting") server.status = "running";
            },
          }),
        ]
      : [];
    return {
      status: 201,
      body: { server: renderServer(server), action: renderAction(action), next_actions: nextActions.map(renderAction), root_password: server.rootPassword },
    };
  }

  function deleteServer(server: ServerRecord, context: Context): FakeResponse {
    if (server.status === "deleting") throw apiError("locked", "server is locked: it is being deleted");
    const previous = server.status;
    server.status = "deleting";
    const action = startAction(context, "delete_server", [{ id: server.id, type: "server" }], {
      onSuccess: () => {
        servers.delete(server.id);
        for (const volume of volumes.values()) if (volume.server === server.id) volume.server = null;
        for (const firewall of firewalls.values()) firewall.appliedTo = firewall.appliedTo.filter((target) => !(target.type === "server" && target.server === server.id));
        for (const image of [...images.values()]) if (image.type === "backup" && image.bound_to === server.id) images.delete(image.id);
      },
      onError: () => {
        server.status = previous;
      },
    });
    return { status: 200, body: { action: renderAction(action) } };
  }

  function serverAction(server: ServerRecord, verb: string, request: FakeRequest, context: Context): FakeResponse {
    const power: Record<string, { command: string; status: ServerStatus }> = {
      poweroff: { command: "stop_server", status: "off" },
      poweron: { command: "start_server", status: "running" },
    };
    const change = power[verb];
    if (!change && verb !== "create_image" && verb !== "shutdown") throw notFound("action");
    if (request.method !== "POST") throw apiError("method_not_allowed", "method not allowed");
    if (server.status === "deleting" || busy("server", server.id)) throw apiError("locked", "server is locked: another action is running");
    if (change) {
      const action = startAction(context, change.command, [{ id: server.id, type: "server" }], {
        onSuccess: () => {
          if (!servers.has(server.id)) return;
          server.status = change.status;
          server.acpiOffAtMs = null;
        },
      });
      return { status: 201, body: { action: renderAction(action) } };
    }
    if (verb === "shutdown") {
      // The action is the signal; the guest decides whether and when the server goes off.
      const action = startAction(context, "shutdown_server", [{ id: server.id, type: "server" }], {
        onSuccess: () => {
          const answer = acpiAnswer(server);
          if (servers.has(server.id) && server.status === "running" && !answer.ignore) server.acpiOffAtMs = now() + answer.shutdownMs;
        },
      });
      return { status: 201, body: { action: renderAction(action) } };
    }
    const body = objectBody(request);
    if (body.type !== undefined && body.type !== "snapshot") throw invalidField("type", "only 'snapshot' is supported (backups are not enabled)");
    if (body.description !== undefined && body.description !== null && typeof body.description !== "string") throw invalidField("description", "must be a string");
    const image: ImageRecord = {
      id: counters.image++,
      type: "snapshot",
      status: "creating",
      name: null,
      description: typeof body.description === "string" ? body.description : `${server.name}-${iso(now())}`,
      image_size: null,
      disk_size: server.type.disk,
      createdMs: now(),
      created_from: { id: server.id, name: server.name },
      bound_to: null,
      os_flavor: String(server.image.os_flavor ?? "unknown"),
      os_version: typeof server.image.os_version === "string" ? server.image.os_version : null,
      rapid_deploy: false,
      deprecated: null,
      labels: parseLabels(body.labels),
      architecture: server.type.architecture,
    };
    images.set(image.id, image);
    const action = startAction(context, "create_image", [{ id: server.id, type: "server" }], {
      onSuccess: () => {
        image.status = "available";
        image.image_size = Math.round(server.type.disk * 0.03 * 100) / 100;
      },
      onError: () => {
        images.delete(image.id);
      },
    });
    return { status: 201, body: { image: renderImage(image), action: renderAction(action) } };
  }

  // --- networks
  function createNetwork(request: FakeRequest): FakeResponse {
    const body = objectBody(request);
    const name = requiredString(body, "name");
    const labels = parseLabels(body.labels);
    const cidr = parseCidr(body.ip_range);
    if (!cidr) throw invalidField("ip_range", "must be an IPv4 network in CIDR notation");
    if (!PRIVATE_RANGES.some((range) => cidrContains(range, cidr))) throw invalidField("ip_range", "must be a private network (RFC 1918)");
    const subnets: Subnet[] = [];
    const rawSubnets = body.subnets ?? [];
    if (!Array.isArray(rawSubnets)) throw invalidField("subnets", "must be an array");
    for (const raw of rawSubnets as unknown[]) {
      if (!isRecord(raw)) throw invalidField("subnets", "must contain objects");
      if (raw.type !== "cloud" && raw.type !== "server" && raw.type !== "vswitch") throw invalidField("subnets", "type must be one of cloud, server, vswitch");
      if (typeof raw.network_zone !== "string" || !NETWORK_ZONES.has(raw.network_zone)) throw invalidField("subnets", "network_zone is invalid");
      if (raw.type === "vswitch" && !isId(raw.vswitch_id)) throw invalidField("subnets", "vswitch_id is required for subnets of type vswitch");
      let subnetCidr: Cidr | null;
      if (raw.ip_range === undefined || raw.ip_range === null) {
        const size = Math.max(cidr.prefix, 24);
        subnetCidr = null;
        for (let base = cidr.base; base < cidr.base + cidrSize(cidr); base += 2 ** (32 - size)) {
          const candidate = { base, prefix: size };
          if (!subnets.some((subnet) => cidrOverlaps(subnet.cidr, candidate))) {
            subnetCidr = candidate;
            break;
          }
        }
        if (!subnetCidr) throw invalidField("subnets", "no free IP range left in the network");
      } else {
        subnetCidr = parseCidr(raw.ip_range);
        if (!subnetCidr) throw invalidField("subnets", "ip_range must be an IPv4 network in CIDR notation");
        if (!cidrContains(cidr, subnetCidr)) throw invalidField("subnets", "ip_range must be inside the network's ip_range");
        const overlapping = subnetCidr;
        if (subnets.some((subnet) => cidrOverlaps(subnet.cidr, overlapping))) throw invalidField("subnets", "subnets must not overlap");
      }
      subnets.push({ type: raw.type, cidr: subnetCidr, network_zone: raw.network_zone, vswitch_id: isId(raw.vswitch_id) ? raw.vswitch_id : null, nextHost: 2 });
    }
    const rawRoutes = body.routes ?? [];
    if (!Array.isArray(rawRoutes)) throw invalidField("routes", "must be an array");
    const routes = (rawRoutes as unknown[]).map((raw) => {
      if (!isRecord(raw) || !parseCidr(raw.destination) || typeof raw.gateway !== "string") throw invalidField("routes", "destination and gateway are required");
      return { destination: String(raw.destination), gateway: raw.gateway };
    });
    if (nameTaken(networks, name)) throw uniqueness("name", "network name is already used");
    const network: NetworkRecord = {
      id: counters.network++,
      name,
      cidr,
      subnets,
      routes,
      labels,
      createdMs: now(),
      exposeRoutesToVswitch: body.expose_routes_to_vswitch === true,
    };
    networks.set(network.id, network);
    return { status: 201, body: { network: renderNetwork(network) } };
  }

  // --- firewalls
  function parseRules(value: unknown): FirewallRule[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw invalidField("rules", "must be an array");
    if (value.length > 50) throw invalidField("rules", "at most 50 rules are allowed");
    return (value as unknown[]).map((raw) => {
      if (!isRecord(raw)) throw invalidField("rules", "must contain objects");
      if (raw.direction !== "in" && raw.direction !== "out") throw invalidField("rules", "direction must be 'in' or 'out'");
      if (typeof raw.protocol !== "string" || !["tcp", "udp", "icmp", "esp", "gre"].includes(raw.protocol)) {
        throw invalidField("rules", "protocol must be one of tcp, udp, icmp, esp, gre");
      }
      const portful = raw.protocol === "tcp" || raw.protocol === "udp";
      if (portful && (typeof raw.port !== "string" || !/^(\d{1,5}(-\d{1,5})?|any)$/.test(raw.port))) throw invalidField("rules", "port is required for tcp and udp");
      if (!portful && raw.port !== undefined && raw.port !== null) throw invalidField("rules", "port is only allowed for tcp and udp");
      const ips = (key: string, allowed: boolean): string[] => {
        const list = raw[key];
        if (list === undefined || list === null) return [];
        if (!allowed) throw invalidField("rules", `${key} is not allowed for direction '${String(raw.direction)}'`);
        if (!Array.isArray(list) || list.some((ip) => typeof ip !== "string" || !ip.includes("/"))) throw invalidField("rules", `${key} must be CIDR blocks`);
        return [...(list as string[])];
      };
      const source_ips = ips("source_ips", raw.direction === "in");
      const destination_ips = ips("destination_ips", raw.direction === "out");
      if ((raw.direction === "in" ? source_ips : destination_ips).length === 0) {
        throw invalidField("rules", raw.direction === "in" ? "source_ips is required for direction 'in'" : "destination_ips is required for direction 'out'");
      }
      return {
        description: typeof raw.description === "string" ? raw.description : null,
        direction: raw.direction,
        source_ips,
        destination_ips,
        protocol: raw.protocol,
        port: portful ? String(raw.port) : null,
      };
    });
  }

  function parseTargets(value: unknown, field: string, missing: (id: number) => ApiError): FirewallTarget[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw invalidField(field, "must be an array");
    return (value as unknown[]).map((raw): FirewallTarget => {
      if (isRecord(raw) && raw.type === "server") {
        const id = isRecord(raw.server) ? raw.server.id : undefined;
        if (!isId(id)) throw invalidField(field, "server.id is required for type 'server'");
        if (!servers.has(id)) throw missing(id);
        return { type: "server", server: id };
      }
      if (isRecord(raw) && raw.type === "label_selector") {
        const selector = isRecord(raw.label_selector) ? raw.label_selector.selector : undefined;
        if (typeof selector !== "string" || selector.trim() === "") throw invalidField(field, "label_selector.selector is required");
        parseSelector(selector);
        return { type: "label_selector", selector };
      }
      throw invalidField(field, "type must be 'server' or 'label_selector'");
    });
  }

  const sameTarget = (a: FirewallTarget, b: FirewallTarget) =>
    a.type === "server" ? b.type === "server" && a.server === b.server : b.type === "label_selector" && a.selector === b.selector;
  const targetResources = (firewall: FirewallRecord, target: FirewallTarget): ActionResource[] =>
    target.type === "server"
      ? [
          { id: target.server, type: "server" },
          { id: firewall.id, type: "firewall" },
        ]
      : [{ id: firewall.id, type: "firewall" }];

  /** Targets show in `applied_to` at once; a server's `public_net.firewalls` entry stays "pending" until apply_firewall finishes. */
  function applyTargets(firewall: FirewallRecord, targets: FirewallTarget[], context: Context): ActionRecord[] {
    return targets.map((target) => {
      firewall.appliedTo.push(target);
      return startAction(context, "apply_firewall", targetResources(firewall, target), {
        onError: () => {
          firewall.appliedTo = firewall.appliedTo.filter((existing) => existing !== target);
        },
      });
    });
  }

  function createFirewall(request: FakeRequest, context: Context): FakeResponse {
    const body = objectBody(request);
    const name = requiredString(body, "name");
    if (name.length > 128) throw invalidField("name", "is too long (maximum is 128 characters)");
    const labels = parseLabels(body.labels);
    const rules = parseRules(body.rules);
    const targets = parseTargets(body.apply_to, "apply_to", (id) => new ApiError(422, "firewall_resource_not_found", `server ${id} not found`));
    for (const [index, target] of targets.entries()) {
      if (targets.findIndex((other) => sameTarget(other, target)) !== index) throw apiError("server_already_added", "server applied more than once");
    }
    if (nameTaken(firewalls, name)) throw uniqueness("name", "firewall name is already used");
    const firewall: FirewallRecord = { id: counters.firewall++, name, labels, createdMs: now(), rules, appliedTo: [] };
    firewalls.set(firewall.id, firewall);
    const created = [
      ...(body.rules !== undefined ? [startAction(context, "set_firewall_rules", [{ id: firewall.id, type: "firewall" }])] : []),
      ...applyTargets(firewall, targets, context),
    ];
    return { status: 201, body: { firewall: renderFirewall(firewall), actions: created.map(renderAction) } };
  }

  function firewallAction(firewall: FirewallRecord, verb: string, request: FakeRequest, context: Context): FakeResponse {
    if (request.method !== "POST") throw apiError("method_not_allowed", "method not allowed");
    const body = objectBody(request);
    if (verb === "set_rules") {
      const rules = parseRules(body.rules);
      const action = startAction(context, "set_firewall_rules", [{ id: firewall.id, type: "firewall" }], {
        onSuccess: () => {
          firewall.rules = rules;
        },
      });
      // As the API's example answer shows: the new rules are applied again to every server the
      // firewall is on, one apply_firewall action each (resources: the server and the firewall).
      const onServers = [...servers.values()].filter((server) =>
        firewall.appliedTo.some((target) => (target.type === "server" ? target.server === server.id : matchesSelector(target.selector, server.labels))),
      );
      const applied = onServers.map((server) => startAction(context, "apply_firewall", targetResources(firewall, { type: "server", server: server.id })));
      return { status: 201, body: { actions: [action, ...applied].map(renderAction) } };
    }
    if (verb === "apply_to_resources") {
      const targets = parseTargets(body.apply_to, "apply_to", (id) => new ApiError(404, "firewall_resource_not_found", `server ${id} not found`));
      if (targets.some((target) => firewall.appliedTo.some((existing) => sameTarget(existing, target)))) {
        throw apiError("firewall_already_applied", "firewall is already applied to the resource");
      }
      return { status: 201, body: { actions: applyTargets(firewall, targets, context).map(renderAction) } };
    }
    if (verb === "remove_from_resources") {
      const targets = parseTargets(body.remove_from, "remove_from", () => new ApiError(404, "firewall_resource_not_found", "the resource was not found"));
      const created = targets.map((target) =>
        startAction(context, "remove_firewall", targetResources(firewall, target), {
          onSuccess: () => {
            firewall.appliedTo = firewall.appliedTo.filter((existing) => !sameTarget(existing, target));
          },
        }),
      );
      return { status: 201, body: { actions: created.map(renderAction) } };
    }
    throw notFound("action");
  }

  // --- ssh keys
  function fingerprintOf(publicKey: string): string | null {
    const [type, blob] = publicKey.trim().split(/\s+/);
    if (!type || !blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return null;
    const bytes = Buffer.from(blob, "base64");
    if (bytes.length < 4) return null;
    const length = bytes.readUInt32BE(0);
    if (bytes.subarray(4, 4 + length).toString("latin1") !== type) return null;
    return (createHash("md5").update(bytes).digest("hex").match(/../g) ?? []).join(":");
  }

  function createSshKey(request: FakeRequest): FakeResponse {
    const body = objectBody(request);
    const name = requiredString(body, "name");
    const publicKey = requiredString(body, "public_key");
    const labels = parseLabels(body.labels);
    const fingerprint = fingerprintOf(publicKey);
    if (!fingerprint) throw invalidField("public_key", "is not a valid SSH public key");
    if (nameTaken(sshKeys, name)) throw uniqueness("name", "SSH key with the same name already exists");
    if ([...sshKeys.values()].some((key) => key.fingerprint === fingerprint)) throw uniqueness("public_key", "SSH key with the same fingerprint already exists");
    const key: SshKeyRecord = { id: counters.sshKey++, name, fingerprint, public_key: publicKey.trim(), labels, createdMs: now() };
    sshKeys.set(key.id, key);
    return { status: 201, body: { ssh_key: renderSshKey(key) } };
  }

  // --- volumes
  const VOLUME_NAME = /^[a-zA-Z0-9](?:[-_.a-zA-Z0-9]{0,62}[a-zA-Z0-9])?$/;

  function createVolume(request: FakeRequest, context: Context): FakeResponse {
    const body = objectBody(request);
    const name = requiredString(body, "name");
    if (!VOLUME_NAME.test(name)) throw invalidField("name", "may contain letters, digits, dashes, underscores and dots, starting and ending with a letter or digit (64 at most)");
    if (typeof body.size !== "number" || !Number.isInteger(body.size)) throw invalidField("size", "is required");
    if (body.size < 10 || body.size > 10240) throw invalidField("size", "must be between 10 and 10240 GB");
    const labels = parseLabels(body.labels);
    if (body.format !== undefined && body.format !== null && body.format !== "xfs" && body.format !== "ext4") throw invalidField("format", "must be 'xfs' or 'ext4'");
    let server: ServerRecord | undefined;
    if (body.server !== undefined && body.server !== null) {
      server = isId(body.server) ? servers.get(body.server) : undefined;
      if (!server) throw invalidField("server", "server not found");
    }
    let location: Location | undefined;
    if (body.location !== undefined && body.location !== null) {
      const ref = asIdOrName(body.location);
      location = ref === undefined ? undefined : findByIdOrName(LOCATIONS, ref);
      if (!location) throw invalidField("location", "location not found");
      if (server && server.location.name !== location.name) throw invalidField("location", "volume and server must be in the same location");
    }
    location ??= server?.location;
    if (!location) throw invalidInput([{ name: "location", messages: ["location or server is required"] }, { name: "server", messages: ["location or server is required"] }]);
    if (body.automount === true && !server) throw invalidField("automount", "requires a server");
    if (nameTaken(volumes, name)) throw uniqueness("name", "volume name is already used");
    const volume: VolumeRecord = {
      id: counters.volume++,
      name,
      size: body.size,
      location,
      server: server?.id ?? null,
      labels,
      status: "creating",
      format: typeof body.format === "string" ? body.format : null,
      createdMs: now(),
    };
    volumes.set(volume.id, volume);
    const resources = [...(server ? [{ id: server.id, type: "server" }] : []), { id: volume.id, type: "volume" }];
    const action = startAction(context, "create_volume", resources, {
      onSuccess: () => {
        volume.status = "available";
      },
    });
    const next = server ? [startAction(context, "attach_volume", resources.map((resource) => ({ ...resource })))] : [];
    return { status: 201, body: { volume: renderVolume(volume), action: renderAction(action), next_actions: next.map(renderAction) } };
  }

  // --- faults
  function takeFault(request: FakeRequest, actionError: boolean): Fault | null {
    const path = request.url.pathname;
    const bare = path.replace(/^\/v1(?=\/)/, "");
    const bodyText = request.body === undefined ? "" : JSON.stringify(request.body);
    const fault = faults.find(
      (candidate) =>
        candidate.actionError === actionError &&
        candidate.remaining > 0 &&
        (candidate.method === null || candidate.method === request.method) &&
        (candidate.path.test(path) || candidate.path.test(bare)) &&
        (candidate.body === null || candidate.body.test(bodyText)),
    );
    if (!fault) return null;
    fault.remaining--;
    if (fault.remaining <= 0) faults.splice(faults.indexOf(fault), 1);
    return fault;
  }

  // --- routing
  function route(request: FakeRequest, context: Context): FakeResponse {
    const { method, url } = request;
    const segments = url.pathname.split("/").filter((segment) => segment.length > 0);
    if (segments[0] !== "v1") throw notFound("resource");
    const [, collection, id, sub, verb, extra] = segments;
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) throw apiError("method_not_allowed", `method ${method} not allowed`);
    };
    if (extra !== undefined) throw notFound("resource");

    switch (collection) {
      case "actions": {
        if (sub !== undefined) break;
        allow("GET");
        if (id !== undefined) return { status: 200, body: { action: renderAction(get(actions, id, "action")) } };
        const ids = all(url, "id");
        if (ids.length === 0) {
          throw apiError("deprecated_api_endpoint", "listing arbitrary actions was removed: filter by id", {
            announcement: "https://docs.hetzner.cloud/changelog#2025-01-30-listing-arbitrary-actions-in-the-actions-list-endpoint-is-removed",
          });
        }
        if (ids.some((raw) => !/^\d+$/.test(raw))) throw invalidField("id", "must be an integer");
        const wanted = new Set(ids.map(Number));
        const found = [...actions.values()].filter((action) => wanted.has(action.id)).map(renderAction);
        return listResponse(request, "actions", found, { sort: ["id", "command", "status", "started", "finished"], filters: multiFilter(url, "status"), selector: false });
      }
      case "servers": {
        if (id === undefined) {
          allow("GET", "POST");
          if (method === "POST") return createServer(request, context);
          return listResponse(request, "servers", [...servers.values()].map(renderServer), { sort: ["id", "name", "created"], filters: multiFilter(url, "status") });
        }
        const server = get(servers, id, "server");
        if (sub === undefined) {
          allow("GET", "DELETE", "PUT");
          if (method === "PUT") {
            updateNamed(servers, server, request, (name) => {
              if (!/^(?=.{1,253}$)[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$/.test(name)) throw invalidField("name", "must be a valid hostname (RFC 1123)");
            });
            return { status: 200, body: { server: renderServer(server) } };
          }
          return method === "GET" ? { status: 200, body: { server: renderServer(server) } } : deleteServer(server, context);
        }
        if (sub === "actions" && verb !== undefined) return serverAction(server, verb, request, context);
        break;
      }
      case "images": {
        if (id === undefined) {
          allow("GET");
          const includeDeprecated = one(url, "include_deprecated") === "true";
          return listResponse(request, "images", [...images.values()].map(renderImage), {
            sort: ["id", "name", "created"],
            filters: [
              ...multiFilter(url, "type"),
              ...multiFilter(url, "status"),
              ...multiFilter(url, "architecture"),
              ...multiFilter(url, "bound_to"),
              (item) => includeDeprecated || item.deprecated === null,
            ],
          });
        }
        if (sub !== undefined) break;
        const image = get(images, id, "image");
        allow("GET", "DELETE", "PUT");
        if (method === "GET") return { status: 200, body: { image: renderImage(image) } };
        if (method === "PUT") {
          const body = objectBody(request);
          if (body.labels !== undefined) image.labels = parseLabels(body.labels);
          if (typeof body.description === "string") image.description = body.description;
          if (body.type !== undefined && body.type !== "snapshot") throw invalidField("type", "only a backup image can become a snapshot");
          if (body.type === "snapshot" && image.type === "backup") image.type = "snapshot";
          return { status: 200, body: { image: renderImage(image) } };
        }
        if (image.type !== "snapshot" && image.type !== "backup") throw apiError("unsupported_error", "only images of type snapshot and backup can be deleted");
        if (image.deleteProtected === true) throw apiError("protected", "image deletion is protected");
        images.delete(image.id);
        return { status: 204 };
      }
      case "networks": {
        if (id === undefined) {
          allow("GET", "POST");
          if (method === "POST") return createNetwork(request);
          return listResponse(request, "networks", [...networks.values()].map(renderNetwork), { sort: ["id", "name", "created"] });
        }
        if (sub !== undefined) break;
        const network = get(networks, id, "network");
        allow("GET", "DELETE", "PUT");
        if (method === "GET") return { status: 200, body: { network: renderNetwork(network) } };
        if (method === "PUT") {
          updateNamed(networks, network, request);
          return { status: 200, body: { network: renderNetwork(network) } };
        }
        for (const server of servers.values()) server.privateNet = server.privateNet.filter((net) => net.network !== network.id);
        networks.delete(network.id);
        return { status: 204 };
      }
      case "firewalls": {
        if (id === undefined) {
          allow("GET", "POST");
          if (method === "POST") return createFirewall(request, context);
          return listResponse(request, "firewalls", [...firewalls.values()].map(renderFirewall), { sort: ["id", "name", "created"] });
        }
        const firewall = get(firewalls, id, "firewall");
        if (sub === "actions" && verb !== undefined) return firewallAction(firewall, verb, request, context);
        if (sub !== undefined) break;
        allow("GET", "DELETE", "PUT");
        if (method === "GET") return { status: 200, body: { firewall: renderFirewall(firewall) } };
        if (method === "PUT") {
          updateNamed(firewalls, firewall, request);
          return { status: 200, body: { firewall: renderFirewall(firewall) } };
        }
        const inUse = firewall.appliedTo.some((target) =>
          target.type === "server" ? servers.has(target.server) : [...servers.values()].some((server) => matchesSelector(target.selector, server.labels)),
        );
        if (inUse) throw apiError("resource_in_use", "firewall is still applied to a resource");
        firewalls.delete(firewall.id);
        return { status: 204 };
      }
      case "placement_groups": {
        if (id === undefined) {
          allow("GET", "POST");
          if (method === "POST") {
            const body = objectBody(request);
            const name = requiredString(body, "name");
            const labels = parseLabels(body.labels);
            if (body.type !== "spread") throw invalidField("type", "must be 'spread'");
            if (nameTaken(placementGroups, name)) throw uniqueness("name", "placement group name is already used");
            const group: PlacementGroupRecord = { id: counters.placementGroup++, name, labels, type: "spread", createdMs: now() };
            placementGroups.set(group.id, group);
            return { status: 201, body: { placement_group: renderPlacementGroup(group) } };
          }
          return listResponse(request, "placement_groups", [...placementGroups.values()].map(renderPlacementGroup), {
            sort: ["id", "name", "created"],
            filters: multiFilter(url, "type"),
          });
        }
        if (sub !== undefined) break;
        const group = get(placementGroups, id, "placement group");
        allow("GET", "DELETE", "PUT");
        if (method === "GET") return { status: 200, body: { placement_group: renderPlacementGroup(group) } };
        if (method === "PUT") {
          updateNamed(placementGroups, group, request);
          return { status: 200, body: { placement_group: renderPlacementGroup(group) } };
        }
        for (const server of servers.values()) if (server.placementGroup === group.id) server.placementGroup = null;
        placementGroups.delete(group.id);
        return { status: 204 };
      }
      case "ssh_keys": {
        if (id === undefined) {
          allow("GET", "POST");
          if (method === "POST") return createSshKey(request);
          return listResponse(request, "ssh_keys", [...sshKeys.values()].map(renderSshKey), { sort: ["id", "name"], filters: multiFilter(url, "fingerprint") });
        }
        if (sub !== undefined) break;
        const key = get(sshKeys, id, "ssh key");
        allow("GET", "DELETE", "PUT");
        if (method === "GET") return { status: 200, body: { ssh_key: renderSshKey(key) } };
        if (method === "PUT") {
          updateNamed(sshKeys, key, request);
          return { status: 200, body: { ssh_key: renderSshKey(key) } };
        }
        sshKeys.delete(key.id);
        return { status: 204 };
      }
      case "volumes": {
        if (id === undefined) {
          allow("GET", "POST");
          if (method === "POST") return createVolume(request, context);
          return listResponse(request, "volumes", [...volumes.values()].map(renderVolume), { sort: ["id", "name", "created"], filters: multiFilter(url, "status") });
        }
        const volume = get(volumes, id, "volume");
        if (sub === "actions" && verb === "attach") {
          allow("POST");
          const body = objectBody(request);
          const server = isId(body.server) ? servers.get(body.server) : undefined;
          if (!server) throw invalidField("server", "server not found");
          if (server.location.name !== volume.location.name) throw invalidField("server", "volume and server must be in the same location");
          if (volume.server !== null) throw apiError("volume_already_attached", `volume with ID '${volume.id}' is already attached to a server`);
          if (busy("volume", volume.id) || busy("server", server.id)) throw apiError("locked", "volume is locked: another action is running");
          const action = startAction(context, "attach_volume", [{ id: server.id, type: "server" }, { id: volume.id, type: "volume" }], {
            onSuccess: () => {
              volume.server = server.id;
            },
          });
          return { status: 201, body: { action: renderAction(action) } };
        }
        if (sub === "actions" && verb === "detach") {
          allow("POST");
          if (busy("volume", volume.id)) throw apiError("locked", "volume is locked: another action is running");
          const action = startAction(
            context,
            "detach_volume",
            [...(volume.server !== null ? [{ id: volume.server, type: "server" }] : []), { id: volume.id, type: "volume" }],
            {
              onSuccess: () => {
                volume.server = null;
              },
            },
          );
          return { status: 201, body: { action: renderAction(action) } };
        }
        if (sub !== undefined) break;
        allow("GET", "DELETE", "PUT");
        if (method === "GET") return { status: 200, body: { volume: renderVolume(volume) } };
        if (method === "PUT") {
          updateNamed(volumes, volume, request);
          return { status: 200, body: { volume: renderVolume(volume) } };
        }
        if (volume.server !== null) throw apiError("service_error", `volume with ID '${volume.id}' is still attached to a server`);
        volumes.delete(volume.id);
        return { status: 204 };
      }
      case "server_types": {
        if (sub !== undefined) break;
        allow("GET");
        if (id !== undefined) return { status: 200, body: { server_type: renderServerType(get(new Map(SERVER_TYPES.map((type) => [type.id, type])), id, "server type")) } };
        return listResponse(request, "server_types", SERVER_TYPES.map(renderServerType), { selector: false });
      }
      case "locations": {
        if (sub !== undefined) break;
        allow("GET");
        if (id !== undefined) return { status: 200, body: { location: { ...get(new Map(LOCATIONS.map((location) => [location.id, location])), id, "location") } } };
        return listResponse(request, "locations", LOCATIONS.map((location) => ({ ...location })), { selector: false });
      }
      case "datacenters": {
        if (sub !== undefined) break;
        allow("GET");
        if (id !== undefined) return { status: 200, body: { datacenter: renderDatacenter(get(new Map(DATACENTERS.map((dc) => [dc.id, dc])), id, "datacenter")) } };
        const listed = listResponse(request, "datacenters", DATACENTERS.map(renderDatacenter), { selector: false });
        const body = listed.body as Json;
        body.recommendation = DATACENTERS[0]?.id ?? null;
        return listed;
      }
    }
    throw notFound("resource");
  }

  function api(request: FakeRequest): FakeResponse {
    settle();
    requests.push({ method: request.method, path: request.url.pathname, query: readQuery(request.url), body: request.body, at: now() });
    refill();
    if (tokens < 1) {
      return {
        status: 429,
        headers: rateHeaders(),
        body: { error: { code: "rate_limit_exceeded", message: `limit of ${rateLimit} requests per hour reached`, details: {} } },
      };
    }
    tokens -= 1;
    const headers = rateHeaders();
    const authorization = request.headers.authorization ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (!match || match[1] !== token) {
      return { status: 401, headers, body: { error: { code: "unauthorized", message: "unable to authenticate", details: {} } } };
    }
    const fault = takeFault(request, false);
    if (fault) {
      return {
        status: fault.status,
        headers: fault.status === 429 ? rateHeaders(true) : headers,
        body: { error: { code: fault.code, message: fault.message, details: fault.details } },
      };
    }
    const actionFault = request.method === "GET" ? null : takeFault(request, true);
    const context: Context = { actionFailure: actionFault ? { code: actionFault.code, message: actionFault.message } : null };
    try {
      const response = route(request, context);
      return { ...response, headers: { ...headers, ...response.headers } };
    } catch (error) {
      if (error instanceof ApiError) return { status: error.status, headers, body: { error: { code: error.code, message: error.message, details: error.details } } };
      return { status: 500, headers, body: { error: { code: "server_error", message: error instanceof Error ? error.message : "fake failed", details: {} } } };
    }
  }

  // --- control endpoints
  const controlError = (message: string): FakeResponse => ({ status: 400, body: { error: message } });

  function control(request: FakeRequest): FakeResponse {
    settle();
    const { method, url } = request;
    const body = isRecord(request.body) ? request.body : {};
    switch (url.pathname) {
      case "/__fake/faults": {
        if (method === "DELETE") {
          faults.splice(0, faults.length);
          return { status: 204 };
        }
        if (method === "GET") {
          return { status: 200, body: faults.map((fault) => ({ ...fault, path: fault.path.source, body: fault.body?.source ?? null })) };
        }
        if (typeof body.path !== "string" || typeof body.code !== "string") return controlError("path (regex) and code are required");
        let path: RegExp;
        let bodyPattern: RegExp | null;
        try {
          path = new RegExp(body.path);
          bodyPattern = typeof body.body === "string" ? new RegExp(body.body) : null;
        } catch (error) {
          return controlError(error instanceof Error ? error.message : "invalid regex");
        }
        const defaults = FAULT_DEFAULTS[body.code];
        const fault: Fault = {
          id: faults.reduce((max, existing) => Math.max(max, existing.id), 0) + 1,
          method: typeof body.method === "string" ? body.method.toUpperCase() : null,
          path,
          body: bodyPattern,
          status: typeof body.status === "number" ? body.status : (STATUS_OF_CODE[body.code] ?? 422),
          code: body.code,
          message: typeof body.message === "string" ? body.message : (defaults?.message ?? body.code.replaceAll("_", " ")),
          details: body.details !== undefined ? body.details : (defaults?.details ?? {}),
          remaining: typeof body.count === "number" && body.count > 0 ? body.count : 1,
          actionError: body.actionError === true,
        };
        faults.push(fault);
        return { status: 201, body: { id: fault.id } };
      }
      case "/__fake/servers": {
        const selectorText = url.searchParams.get("label_selector");
        const name = url.searchParams.get("name");
        let selector: Selector = () => true;
        try {
          if (selectorText !== null) selector = parseSelector(selectorText);
        } catch {
          return controlError(`invalid label_selector: ${selectorText}`);
        }
        return {
          status: 200,
          body: [...servers.values()]
            .filter((server) => selector(server.labels) && (name === null || server.name === name))
            .map((server) => ({
              id: server.id,
              name: server.name,
              status: server.status,
              labels: { ...server.labels },
              created: iso(server.createdMs),
              user_data: server.userData,
              server_type: server.type.name,
              location: server.location.name,
              image: server.image.id,
              ssh_keys: [...server.sshKeys],
              networks: server.privateNet.map((net) => net.network),
              ipv4: server.ipv4?.ip ?? null,
              ipv6: server.ipv6?.ip ?? null,
              placement_group: server.placementGroup,
              root_password: server.rootPassword,
            })),
        };
      }
      case "/__fake/images": {
        if (method !== "POST") return controlError("POST only");
        if (typeof body.description !== "string") return controlError("description is required");
        let labels: Labels;
        try {
          labels = parseLabels(body.labels);
        } catch (error) {
          return controlError(error instanceof Error ? error.message : "invalid labels");
        }
        const createdMs = typeof body.created === "string" ? Date.parse(body.created) : now();
        if (Number.isNaN(createdMs)) return controlError("created must be an ISO 8601 time");
        if (body.status !== undefined && body.status !== "available" && body.status !== "creating") return controlError("status must be available or creating");
        if (body.availableAfterSeconds !== undefined && !(typeof body.availableAfterSeconds === "number" && body.availableAfterSeconds >= 0)) {
          return controlError("availableAfterSeconds must be a number >= 0");
        }
        const creating = body.status === "creating";
        const image: ImageRecord = {
          id: counters.image++,
          type: body.type === "backup" ? "backup" : "snapshot",
          status: creating ? "creating" : "available",
          availableAtMs: creating && typeof body.availableAfterSeconds === "number" ? now() + body.availableAfterSeconds * 1000 : null,
          name: null,
          description: body.description,
          image_size: creating ? null : typeof body.image_size === "number" ? body.image_size : 1.2,
          disk_size: typeof body.disk_size === "number" ? body.disk_size : 40,
          createdMs,
          created_from: isRecord(body.created_from) && isId(body.created_from.id) ? { id: body.created_from.id, name: String(body.created_from.name ?? "") } : null,
          bound_to: isId(body.bound_to) ? body.bound_to : null,
          os_flavor: typeof body.os_flavor === "string" ? body.os_flavor : "debian",
          os_version: typeof body.os_version === "string" ? body.os_version : "12",
          rapid_deploy: false,
          deprecated: typeof body.deprecated === "string" ? body.deprecated : null,
          labels,
          architecture: body.architecture === "arm" ? "arm" : "x86",
          deleteProtected: body.protected === true,
        };
        images.set(image.id, image);
        return { status: 201, body: { image: renderImage(image) } };
      }
      case "/__fake/acpi": {
        if (method === "DELETE") {
          acpiRules.splice(0, acpiRules.length);
          return { status: 204 };
        }
        if (method === "GET") {
          return { status: 200, body: acpiRules.map((rule) => ({ id: rule.id, name: rule.name?.source ?? null, label_selector: rule.selector, ignore: rule.ignore, shutdownSeconds: rule.shutdownMs === null ? null : rule.shutdownMs / 1000 })) };
        }
        if (method !== "POST") return controlError("GET, POST or DELETE");
        let name: RegExp | null;
        try {
          name = typeof body.name === "string" ? new RegExp(body.name) : null;
          if (typeof body.label_selector === "string") parseSelector(body.label_selector);
        } catch (error) {
          return controlError(error instanceof Error ? error.message : "invalid name or label_selector");
        }
        if (body.shutdownSeconds !== undefined && !(typeof body.shutdownSeconds === "number" && body.shutdownSeconds >= 0)) return controlError("shutdownSeconds must be a number >= 0");
        const rule: AcpiRule = {
          id: acpiRules.reduce((max, existing) => Math.max(max, existing.id), 0) + 1,
          name,
          selector: typeof body.label_selector === "string" ? body.label_selector : null,
          ignore: body.ignore === true,
          shutdownMs: typeof body.shutdownSeconds === "number" ? body.shutdownSeconds * 1000 : null,
        };
        acpiRules.push(rule);
        return { status: 201, body: { id: rule.id } };
      }
      case "/__fake/requests": {
        let pattern: RegExp | null = null;
        try {
          const raw = url.searchParams.get("path");
          pattern = raw === null ? null : new RegExp(raw);
        } catch (error) {
          return controlError(error instanceof Error ? error.message : "invalid regex");
        }
        const wantedMethod = url.searchParams.get("method")?.toUpperCase() ?? null;
        const matches = (logged: LoggedRequest) => (pattern === null || pattern.test(logged.path)) && (wantedMethod === null || logged.method === wantedMethod);
        if (method === "DELETE") {
          const kept = requests.filter((logged) => !matches(logged));
          requests.splice(0, requests.length, ...kept);
          return { status: 204 };
        }
        return { status: 200, body: requests.filter(matches) };
      }
      case "/__fake/actions": {
        if (method !== "POST") return controlError("POST only");
        if (typeof body.actionMs !== "number" || !(body.actionMs >= 0)) return controlError("actionMs (>= 0) is required");
        actionMs = body.actionMs;
        return { status: 200, body: { actionMs } };
      }
      case "/__fake/clock": {
        if (method !== "POST") return controlError("POST only");
        if (typeof body.advanceSeconds !== "number" || !(body.advanceSeconds >= 0)) return controlError("advanceSeconds (>= 0) is required");
        clockOffsetMs += body.advanceSeconds * 1000;
        settle();
        return { status: 200, body: { now: new Date(now()).toISOString() } };
      }
      case "/__fake/rate-limit": {
        refill();
        if (method === "POST") {
          if (typeof body.limit === "number" && body.limit >= 1) rateLimit = Math.floor(body.limit);
          if (typeof body.remaining === "number" && body.remaining >= 0) tokens = Math.min(rateLimit, body.remaining);
          tokens = Math.min(tokens, rateLimit);
        }
        const current = rateHeaders();
        return {
          status: 200,
          body: { limit: rateLimit, remaining: Number(current["ratelimit-remaining"]), reset: Number(current["ratelimit-reset"]) },
        };
      }
    }
    return { status: 404, body: { error: `no control endpoint ${url.pathname}` } };
  }

  return startFake((request) => (request.url.pathname.startsWith("/__fake/") ? control(request) : api(request)), port);
}
