// A fake OpenSSH client for tests of the infra CLI: called exactly like `ssh [options]
// [user@]host command words...`, it resolves the host through the Hetzner fake and plays the remote
// side — sshd booting, cloud-init, and a Docker Swarm (init/join, nodes, labels, secrets, configs, stacks) —
// in a JSON state file, recording every call. The wrapper `fake-ssh` runs it with Node 24 (type
// stripping), so: erasable TypeScript only, Node built-ins only, `.ts` imports.
//
// Environment:
// - FAKE_HETZNER_URL: base URL of the Hetzner fake (test/node/fakes/hetzner.ts), without /v1.
// - FAKE_SSH_STATE: the state file (see fake-ssh-state.ts; created when missing).
// - FAKE_SSH_HCLOUD_TOKEN: API token of the Hetzner fake; default "fake-hcloud-token".
//
// Connection (exit 255 with OpenSSH's messages on stderr):
// - The destination must be an IPv4 that is the public IPv4 of a Hetzner server whose status is
//   `running`, port 22 (-p / -o Port), user root (`root@ip`, -l or -o User). GET /__fake/servers
//   (free) gives names, status and networks; addresses come from GET /v1/servers (the rate-limited
//   API, Bearer token), fetched only when a server is unknown to the state's address cache.
// - Boot: the first `bootCalls` (default 1) connections to a running server are refused; then, for
//   `cloudInitCalls` (default 1) commands, cloud-init is still running: `docker …` answers 127
//   `bash: line 1: docker: command not found`, `cloud-init status --wait` finishes it.
// - Faults armed in the state answer matching commands instead of running them (255 = dropped).
//
// The remote command is the words after the destination joined with spaces, split again as a POSIX
// shell would (quotes, backslashes; redirections such as `>/dev/null 2>&1` are dropped). Pipes,
// `;`, `&&`, `$…` and anything not listed below answer 127 `fake-ssh: unsupported command: <cmd>`.
// Besides Docker and cloud-init: `true`, `echo`, `hostname`, `bash -s` (a script on stdin),
// `mountpoint -q <path>` (mounted), `mkdir -p <absolute paths>` and
// `cat /etc/ssh/ssh_host_ed25519_key.pub` (the host's own key, as Debian's ssh-keygen -A writes it:
// `ssh-ed25519 <base64> root@<hostname>`), and `curl --unix-socket /var/run/docker.sock` for the
// Engine API's POST /swarm/join with the request on stdin (`--data-binary @-`).
//
// Docker, as docker/cli v29.7.2 and swarmkit answer (checked 2026-12-06): `docker node
// demote/rm` (a demotion that would leave the reachable managers short of a quorum is refused,
// "can't remove member from the raft: this would result in a loss of quorum"; `rm` wants a demoted,
// down node), `docker secret|config ls/create/rm/inspect` (rm refuses what a service's spec
// references: "… is in use by the following service: …"), `docker service ls/inspect` (the spec's
// TaskTemplate.ContainerSpec.Secrets/Configs as SecretReference {File, SecretID, SecretName} and
// ConfigReference {File, ConfigID, ConfigName}; `--format '{{json …}}'` of an empty list is null).
//
// Every call is recorded with its argv and the names of its environment variables (what anyone on
// the machine running the CLI sees), the command, and stdin (redacted for secrets and the join).
import { existsSync, writeSync } from "node:fs";
import { connect } from "node:net";
import {
  readFakeSshState,
  updateFakeSshState,
  type CachedServer,
  type FakeSshHost,
  type FakeSshRecord,
  type FakeSshState,
  type SwarmCluster,
  type SwarmNode,
  type SwarmSecret,
  type SwarmService,
} from "./fake-ssh-state.ts";

const ENGINE_VERSION = "27.5.1";
const STDIN_RECORD_CAP = 64 * 1024;
const MAX_SECRET_SIZE = 500 * 1024;

type Result = { exitCode: number; stdout: string; stderr: string };

class Unsupported extends Error {}

const ok = (stdout = ""): Result => ({ exitCode: 0, stdout, stderr: "" });
const fail = (exitCode: number, stderr: string, stdout = ""): Result => ({ exitCode, stdout, stderr: stderr.endsWith("\n") ? stderr : `${stderr}\n` });
const daemonError = (message: string): Result => fail(1, `Error response from daemon: ${message}`);

// ---------------------------------------------------------------------------------------------
// ssh command line

/** OpenSSH's getopt letters that take an argument ("b:c:D:E:e:F:I:i:J:L:l:m:O:o:P:p:Q:R:S:W:w:B:"). */
const OPTIONS_WITH_ARGUMENT = new Set([..."BbcDEeFIiJLlmOoPpQRSWw"]);
const FLAG_OPTIONS = new Set([..."1246AaCfGgKkMNnqsTtVvXxYy"]);

type Invocation = { options: string[]; user: string; host: string; port: number; identityFiles: string[]; words: string[] };

function parseSshArgs(argv: string[]): Invocation | string {
  const options: string[] = [];
  const identityFiles: string[] = [];
  let loginOption: string | null = null;
  let port = 22;
  let destination: string | null = null;
  let terminated = false;
  let i = 0;

  const setConfig = (text: string): string | null => {
    const match = /^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*)$/.exec(text);
    if (!match) return `no argument after keyword "${text}"`;
    const key = match[1]!.toLowerCase();
    const value = match[2]!.trim();
    if (key === "port") port = Number(value);
    if (key === "user") loginOption ??= value;
    if (key === "identityfile") identityFiles.push(value);
    return null;
  };

  const parseOptions = (): string | null => {
    while (i < argv.length) {
      const word = argv[i]!;
      if (word === "--") {
        i++;
        terminated = true;
        return null;
      }
      if (!word.startsWith("-") || word === "-") return null;
      options.push(word);
      i++;
      for (let j = 1; j < word.length; j++) {
        const letter = word[j]!;
        if (OPTIONS_WITH_ARGUMENT.has(letter)) {
          let value = word.slice(j + 1);
          if (value === "") {
            const next = argv[i];
            if (next === undefined) return `option requires an argument -- ${letter}`;
            options.push(next);
            value = next;
            i++;
          }
          if (letter === "p") port = Number(value);
          if (letter === "l") loginOption ??= value;
          if (letter === "i") identityFiles.push(value);
          if (letter === "o") {
            const error = setConfig(value);
            if (error !== null) return error;
          }
          break;
        }
        if (!FLAG_OPTIONS.has(letter)) return `unknown option -- ${letter}`;
      }
    }
    return null;
  };

  let error = parseOptions();
  if (error !== null) return error;
  destination = argv[i] ?? null;
  if (destination === null) return "no destination";
  i++;
  if (!terminated) {
    error = parseOptions();
    if (error !== null) return error;
  }
  let user: string | null = loginOption as string | null;
  let host = destination;
  const at = destination.lastIndexOf("@");
  if (at >= 0) {
    user ??= destination.slice(0, at);
    host = destination.slice(at + 1);
  }
  return { options, user: user ?? process.env.USER ?? "root", host, port, identityFiles, words: argv.slice(i) };
}

const SSH_USAGE = `usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface] [-b bind_address]
           [-c cipher_spec] [-D [bind_address:]port] [-E log_file]
           [-e escape_char] [-F configfile] [-I pkcs11] [-i identity_file]
           [-J destination] [-L address] [-l login_name] [-m mac_spec]
           [-O ctl_cmd] [-o option] [-P tag] [-p port] [-R address]
           [-S ctl_path] [-W host:port] [-w local_tun[:remote_tun]]
           destination [command [argument ...]]
`;

// ---------------------------------------------------------------------------------------------
// remote shell words

/** Splits a command as a POSIX shell would; null when it needs more than a simple command. */
function shellWords(command: string): string[] | null {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quoted = false;
  let i = 0;
  const n = command.length;
  const end = () => {
    if (inWord) words.push(word);
    word = "";
    inWord = false;
    quoted = false;
  };
  while (i < n) {
    const c = command[i]!;
    if (c === " " || c === "\t" || c === "\n") {
      end();
      i++;
    } else if (c === "'") {
      const close = command.indexOf("'", i + 1);
      if (close < 0) return null;
      word += command.slice(i + 1, close);
      inWord = true;
      quoted = true;
      i = close + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      quoted = true;
      for (;;) {
        if (i >= n) return null;
        const d = command[i]!;
        if (d === '"') break;
        if (d === "$" || d === "`") return null;
        if (d === "\\" && i + 1 < n && '$`"\\\n'.includes(command[i + 1]!)) {
          if (command[i + 1] !== "\n") word += command[i + 1];
          i += 2;
          continue;
        }
        word += d;
        i++;
      }
      i++;
    } else if (c === "\\") {
      if (i + 1 < n && command[i + 1] !== "\n") {
        word += command[i + 1];
        inWord = true;
      }
      i += 2;
    } else if (c === "#" && !inWord) {
      break;
    } else if ((c === ">" || c === "<" || (c === "&" && command[i + 1] === ">")) && (!inWord || (!quoted && /^\d+$/.test(word)))) {
      // A redirection (`>/dev/null`, `2>&1`, `&>x`, `<x`): dropped with its target.
      if (command.startsWith("<<", i)) return null;
      word = "";
      inWord = false;
      i += c === "&" ? 2 : 1;
      if (command[i] === ">" || command[i] === "&" || command[i] === "|") i++;
      while (command[i] === " " || command[i] === "\t") i++;
      const start = i;
      while (i < n && !" \t\n;&|<>()".includes(command[i]!)) i++;
      if (i === start) return null;
    } else if (";&|()`$".includes(c)) {
      return null;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  end();
  return words;
}

// ---------------------------------------------------------------------------------------------
// docker-style flags

type FlagSpec = Record<string, "bool" | "string" | "list">;
type Flags = { values: Map<string, string[]>; positionals: string[] };

/** pflag-like: `--name value`, `--name=value`, `-x value`, bools `--flag[=true|false]`, `--` ends flags. */
function parseFlags(args: string[], spec: FlagSpec, aliases: Record<string, string> = {}): Flags {
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const given = eq >= 0 ? arg.slice(0, eq) : arg;
    const name = aliases[given] ?? given;
    const kind = spec[name];
    if (kind === undefined) throw new Unsupported(`unknown flag: ${given}`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (kind === "bool") value = "true";
    else {
      const next = args[i + 1];
      if (next === undefined) throw new Unsupported(`flag needs an argument: ${given}`);
      value = next;
      i++;
    }
    if (kind === "bool" && value !== "true" && value !== "false") throw new Unsupported(`invalid boolean for ${given}: ${value}`);
    values.set(name, kind === "list" ? [...(values.get(name) ?? []), value] : [value]);
  }
  return { values, positionals };
}

const flag = (flags: Flags, name: string): string | undefined => flags.values.get(name)?.[0];
const isSet = (flags: Flags, name: string): boolean => flag(flags, name) === "true";
const list = (flags: Flags, name: string): string[] => flags.values.get(name) ?? [];

// ---------------------------------------------------------------------------------------------
// Go templates: only `{{.Path}}`, `{{json .Path}}` and literal text

const goMaps = new WeakSet<object>();
function goMap<T extends object>(value: T): T {
  goMaps.add(value);
  return value;
}

function sortedObject(record: Record<string, string>): Record<string, string> {
  return goMap(Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

function goText(value: unknown): string {
  if (value === undefined) return "<no value>";
  if (value === null) return "<nil>";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(goText).join(" ")}]`;
  if (typeof value === "object") {
    if (goMaps.has(value)) {
      const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
      return `map[${entries.map(([k, v]) => `${k}:${goText(v)}`).join(" ")}]`;
    }
    return `{${Object.values(value).map(goText).join(" ")}}`;
  }
  return String(value);
}

function renderTemplate(template: string, data: unknown): string {
  return template.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_all, action: string) => {
    let expression = action.trim();
    let json = false;
    const jsonMatch = /^json\s+(\S+)$/.exec(expression);
    if (jsonMatch) {
      json = true;
      expression = jsonMatch[1]!;
    }
    if (!/^\.(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)?$/.test(expression)) {
      throw new Unsupported(`template action {{${action}}}`);
    }
    let value: unknown = data;
    for (const field of expression.slice(1).split(".").filter(Boolean)) {
      if (value !== null && typeof value === "object" && Object.hasOwn(value, field)) {
        value = (value as Record<string, unknown>)[field];
      } else if (value !== null && typeof value === "object" && goMaps.has(value)) {
        value = undefined;
      } else {
        throw new Unsupported(`template field ${expression}`);
      }
    }
    return json ? JSON.stringify(value ?? null) : goText(value);
  });
}

function formatRows(rows: object[], format: string): string {
  return rows.map((row) => `${renderTemplate(format, row)}\n`).join("");
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd((widths[column] ?? 0) + 3)))
      .join("")
      .trimEnd();
  return [headers, ...rows].map((cells) => `${line(cells)}\n`).join("");
}

// ---------------------------------------------------------------------------------------------
// ids

// Math.random, not node:crypto: loading node:crypto costs every call ~12 ms of start-up.
const ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyz0123456789";
function randomId(length: number): string {
  let id = "";
  for (let i = 0; i < length; i++) id += ALPHANUMERIC[Math.floor(Math.random() * 36)];
  return id;
}
const newToken = (caDigest: string) => `SWMTKN-1-${caDigest}-${randomId(25)}`;

/** An ed25519 public key in OpenSSH's form without comment: string "ssh-ed25519", string of 32 random bytes. */
function newHostKey(): string {
  const type = Buffer.from("ssh-ed25519");
  const key = Buffer.alloc(32);
  for (let i = 0; i < key.length; i++) key[i] = Math.floor(Math.random() * 256);
  const length = (value: number) => Buffer.from([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]);
  return `ssh-ed25519 ${Buffer.concat([length(type.length), type, length(key.length), key]).toString("base64")}`;
}
const HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key.pub";
const isoNow = () => new Date().toISOString();

// ---------------------------------------------------------------------------------------------
// compose (minimal YAML: block mappings by indentation)

type Line = { indent: number; text: string };
type Entry = { key: string; value: string; body: Line[] };
type ComposeService = {
  key: string;
  image: string;
  mode: "replicated" | "global";
  replicas: number;
  ports: string;
  secrets: string[];
  configs: string[];
  /** File.Name of each reference, in the same order. */
  secretFiles: string[];
  configFiles: string[];
  hasNetworks: boolean;
};
type ComposeTop = { external: boolean; name: string | null };
type Compose = { services: ComposeService[]; secrets: Map<string, ComposeTop>; configs: Map<string, ComposeTop>; networks: Map<string, ComposeTop> };

function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === "#" && (i === 0 || line[i - 1] === " " || line[i - 1] === "\t")) return line.slice(0, i);
  }
  return line;
}

const unquote = (text: string): string => {
  const t = text.trim();
  return t.length >= 2 && (t[0] === '"' || t[0] === "'") && t[t.length - 1] === t[0] ? t.slice(1, -1) : t;
};

/** The mapping entries at the indentation of the first line of `lines`. */
function entries(lines: Line[]): Entry[] {
  const first = lines[0];
  if (!first) return [];
  const result: Entry[] = [];
  for (const line of lines) {
    if (line.indent < first.indent) break;
    if (line.indent === first.indent) {
      const match = /^("[^"]*"|'[^']*'|[^\s:'"][^:]*?):(?:\s+(.*))?$/.exec(line.text);
      if (match) result.push({ key: unquote(match[1]!), value: (match[2] ?? "").trim(), body: [] });
      continue;
    }
    result[result.length - 1]?.body.push(line);
  }
  return result;
}

function scalar(body: Line[], key: string): string | null {
  for (const line of body) {
    const match = new RegExp(`^(?:-\\s+)?${key}:\\s*(.*)$`).exec(line.text);
    if (match) return unquote(match[1]!);
  }
  return null;
}

function listItems(body: Line[]): Line[][] {
  const items: Line[][] = [];
  const base = body[0]?.indent;
  for (const line of body) {
    if (line.indent === base && line.text.startsWith("-")) items.push([{ indent: line.indent + 2, text: line.text.replace(/^-\s*/, "") }]);
    else items[items.length - 1]?.push(line);
  }
  return items;
}

function renderPorts(body: Line[]): string {
  const ports: string[] = [];
  for (const item of listItems(body)) {
    const head = item[0]!.text;
    if (/^(target|published|protocol|mode):/.test(head)) {
      const target = scalar(item, "target");
      const published = scalar(item, "published") ?? target;
      if (target !== null) ports.push(`*:${published}->${target}/${scalar(item, "protocol") ?? "tcp"}`);
      continue;
    }
    const short = unquote(head);
    const match = /^(?:(?:[\d.]+):)?(?:(\d+(?:-\d+)?):)?(\d+(?:-\d+)?)(?:\/(tcp|udp|sctp))?$/.exec(short);
    if (match) ports.push(`*:${match[1] ?? match[2]}->${match[2]}/${match[3] ?? "tcp"}`);
  }
  return ports.join(", ");
}

function parseCompose(text: string): Compose {
  const lines: Line[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const stripped = stripComment(raw).replace(/\s+$/, "");
    if (stripped.trim() === "" || stripped === "---") continue;
    lines.push({ indent: stripped.length - stripped.trimStart().length, text: stripped.trim() });
  }
  const top = new Map(entries(lines).map((entry) => [entry.key, entry]));
  const services = entries(top.get("services")?.body ?? []).map((entry): ComposeService => {
    const children = new Map(entries(entry.body).map((child) => [child.key, child]));
    const deploy = new Map(entries(children.get("deploy")?.body ?? []).map((child) => [child.key, unquote(child.value)]));
    const replicas = Number(deploy.get("replicas") ?? "1");
    // Each reference's source (the top-level key) and its file target, as docker/cli's compose
    // convert sets File.Name: the target, else the source (a config's default target is /<source>).
    const refItems = (key: string) =>
      listItems(children.get(key)?.body ?? []).map((item) => {
        const head = item[0]!.text;
        const long = /^(source|target|uid|gid|mode):/.test(head);
        const source = long ? (scalar(item, "source") ?? "") : unquote(head);
        return { source, target: long ? scalar(item, "target") : null };
      });
    const refs = (key: string) => refItems(key).map((ref) => ref.source);
    const secrets = refs("secrets");
    return {
      key: entry.key,
      image: unquote(children.get("image")?.value ?? ""),
      mode: deploy.get("mode") === "global" ? "global" : "replicated",
      replicas: Number.isInteger(replicas) && replicas >= 0 ? replicas : 1,
      ports: renderPorts(children.get("ports")?.body ?? []),
      secrets,
      configs: refs("configs"),
      secretFiles: refItems("secrets").map((ref) => ref.target ?? ref.source),
      configFiles: refItems("configs").map((ref) => ref.target ?? `/${ref.source}`),
      hasNetworks: children.has("networks"),
    };
  });
  const topLevel = (section: string) =>
    new Map(
      entries(top.get(section)?.body ?? []).map((entry): [string, ComposeTop] => {
        const fields = new Map(entries(entry.body).map((child) => [child.key, unquote(child.value)]));
        return [entry.key, { external: fields.get("external") === "true", name: fields.get("name") ?? null }];
      }),
    );
  return { services, secrets: topLevel("secrets"), configs: topLevel("configs"), networks: topLevel("networks") };
}

// ---------------------------------------------------------------------------------------------
// the remote host

type LiveServer = { id: number; name: string; status: string; networks: number[]; serverType: string };

type Context = {
  state: FakeSshState;
  host: FakeSshHost;
  live: Map<number, LiveServer>;
  command: string;
  words: string[];
  stdin: Buffer | null;
  /** sha256 (hex) of stdin, computed before the lock for `docker secret create`. */
  stdinSha256: string | null;
  cloudInitPending: boolean;
};

const NOT_IN_SWARM =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
const WORKER_NODE =
  "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
const ALREADY_IN_SWARM = 'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';
const NO_LEADER =
  "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.";
const NOT_SYSTEM_ADDRESS =
  "must specify a listening address because the address to advertise is not recognized as a system address, and a system's IP address to use could not be uniquely identified";
const JOIN_TIMEOUT =
  'Timeout was reached before node joined. The attempt to join the swarm will continue in the background. Use the "docker info" command to see the current swarm status of your node.';
const INVALID_TOKEN = "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster";

function privateInterface(ctx: Context): string {
  const type = ctx.live.get(ctx.host.serverId)?.serverType ?? "";
  return type.startsWith("cx") ? "ens10" : "enp7s0";
}

/** The host's addresses and their interfaces, public first. */
function hostAddresses(ctx: Context): { ip: string; iface: string }[] {
  const addresses = [{ ip: ctx.host.ip, iface: "eth0" }];
  if (ctx.host.privateIp !== null) addresses.push({ ip: ctx.host.privateIp, iface: privateInterface(ctx) });
  return addresses;
}

/** `ip`, `ip:port` or an interface name → a system IP of the host, or null. */
function systemAddress(ctx: Context, value: string): string | null {
  const host = value.replace(/:\d+$/, "");
  return hostAddresses(ctx).find((address) => address.ip === host || address.iface === host)?.ip ?? null;
}

function serverUp(ctx: Context, serverId: number): boolean {
  return ctx.live.get(serverId)?.status === "running";
}

/** Refreshes node states and the leader from the servers' status. */
function refreshCluster(ctx: Context, cluster: SwarmCluster): void {
  for (const node of Object.values(cluster.nodes)) node.state = !node.left && serverUp(ctx, node.serverId) ? "ready" : "down";
  const reachable = cluster.managers.filter((id) => cluster.nodes[id]?.state === "ready");
  if (reachable.length * 2 > cluster.managers.length && !reachable.includes(cluster.leader)) cluster.leader = reachable[0]!;
}

function hasQuorum(cluster: SwarmCluster): boolean {
  return cluster.managers.filter((id) => cluster.nodes[id]?.state === "ready").length * 2 > cluster.managers.length;
}

function currentCluster(ctx: Context): { cluster: SwarmCluster; node: SwarmNode } | null {
  if (ctx.host.localNodeState !== "active" || ctx.host.swarmId === null || ctx.host.nodeId === null) return null;
  const cluster = ctx.state.swarms[ctx.host.swarmId];
  const node = cluster?.nodes[ctx.host.nodeId];
  return cluster && node ? { cluster, node } : null;
}

function requireManager(ctx: Context): { cluster: SwarmCluster; node: SwarmNode } | Result {
  const current = currentCluster(ctx);
  if (current === null) return daemonError(NOT_IN_SWARM);
  if (current.node.role !== "manager") return daemonError(WORKER_NODE);
  if (!hasQuorum(current.cluster)) return daemonError(NO_LEADER);
  return current;
}

const isResult = (value: object): value is Result => "exitCode" in value;

function managerStatus(cluster: SwarmCluster, node: SwarmNode): string {
  if (node.role !== "manager") return "";
  if (node.state !== "ready") return "Unreachable";
  return cluster.leader === node.id && hasQuorum(cluster) ? "Leader" : "Reachable";
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
const naturalOrder = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });

function nodeRow(ctx: Context, cluster: SwarmCluster, node: SwarmNode) {
  return {
    Availability: capitalized(node.availability),
    EngineVersion: ENGINE_VERSION,
    Hostname: node.hostname,
    ID: node.id,
    ManagerStatus: managerStatus(cluster, node),
    Self: node.id === ctx.host.nodeId,
    Status: capitalized(node.state),
    TLSStatus: "Ready",
  };
}

function nodeObject(cluster: SwarmCluster, node: SwarmNode) {
  const status = managerStatus(cluster, node);
  return {
    ID: node.id,
    Version: { Index: 1 },
    CreatedAt: node.createdAt,
    UpdatedAt: node.updatedAt,
    Spec: { Labels: sortedObject(node.labels), Role: node.role, Availability: node.availability },
    Description: {
      Hostname: node.hostname,
      Platform: { Architecture: "x86_64", OS: "linux" },
      Engine: { EngineVersion: ENGINE_VERSION },
    },
    Status: { State: node.state, Addr: node.addr },
    ...(node.role === "manager"
      ? { ManagerStatus: { ...(status === "Leader" ? { Leader: true } : {}), Reachability: node.state === "ready" ? "reachable" : "unreachable", Addr: `${node.addr}:2377` } }
      : {}),
  };
}

/** Docker's node lookup: full id, then hostname, then a unique id prefix. */
function findNode(cluster: SwarmCluster, ref: string): SwarmNode | Result {
  const exact = cluster.nodes[ref];
  if (exact) return exact;
  const nodes = Object.values(cluster.nodes);
  const named = nodes.filter((node) => node.hostname === ref);
  if (named.length > 1) return daemonError(`node ${ref} is ambiguous (${named.length} matches found)`);
  if (named[0]) return named[0];
  const prefixed = nodes.filter((node) => node.id.startsWith(ref));
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1) return daemonError(`node ${ref} is ambiguous (${prefixed.length} matches found)`);
  return fail(1, `Error: No such node: ${ref}`);
}

function removeNode(ctx: Context, cluster: SwarmCluster, node: SwarmNode): void {
  delete cluster.nodes[node.id];
  cluster.managers = cluster.managers.filter((id) => id !== node.id);
  for (const host of Object.values(ctx.state.hosts)) {
    if (host.nodeId === node.id) Object.assign(host, { localNodeState: "inactive", nodeId: null, swarmId: null });
  }
}

// ---------------------------------------------------------------------------------------------
// docker info / version

function swarmInfo(ctx: Context) {
  const current = currentCluster(ctx);
  if (current === null) {
    return { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null };
  }
  const { cluster, node } = current;
  const managers = cluster.managers.map((id) => cluster.nodes[id]).filter((manager) => manager !== undefined);
  return {
    NodeID: node.id,
    NodeAddr: node.addr,
    LocalNodeState: "active",
    ControlAvailable: node.role === "manager",
    Error: "",
    RemoteManagers: managers.map((manager) => ({ NodeID: manager.id, Addr: `${manager.addr}:2377` })),
    Nodes: Object.keys(cluster.nodes).length,
    Managers: cluster.managers.length,
    ...(node.role === "manager" ? { Cluster: { ID: cluster.id, CreatedAt: cluster.createdAt, DefaultAddrPool: cluster.defaultAddrPool.length > 0 ? cluster.defaultAddrPool : ["10.0.0.0/8"], SubnetSize: 24, DataPathPort: 4789 } } : {}),
  };
}

function dockerInfo(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string" }, { "-f": "--format" });
  const format = flag(flags, "--format");
  if (format === undefined || flags.positionals.length > 0) throw new Unsupported("docker info needs --format");
  const data = { ID: `${ctx.host.serverId}`, Name: ctx.host.hostname, ServerVersion: ENGINE_VERSION, OperatingSystem: "Debian GNU/Linux 12 (bookworm)", Swarm: swarmInfo(ctx) };
  return ok(`${renderTemplate(format, data)}\n`);
}

function dockerVersion(args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string" }, { "-f": "--format" });
  const format = flag(flags, "--format");
  if (format === undefined || flags.positionals.length > 0) throw new Unsupported("docker version needs --format");
  return ok(`${renderTemplate(format, { Client: { Version: ENGINE_VERSION, APIVersion: "1.47" }, Server: { Version: ENGINE_VERSION, APIVersion: "1.47" } })}\n`);
}

// ---------------------------------------------------------------------------------------------
// docker swarm

function swarmInit(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, {
    "--advertise-addr": "string",
    "--listen-addr": "string",
    "--data-path-addr": "string",
    "--data-path-port": "string",
    "--default-addr-pool": "list",
    "--default-addr-pool-mask-length": "string",
    "--availability": "string",
    "--autolock": "bool",
    "--force-new-cluster": "bool",
    "--task-history-limit": "string",
  });
  if (flags.positionals.length > 0) return fail(1, '"docker swarm init" accepts no arguments.\nSee \'docker swarm init --help\'.');
  if (isSet(flags, "--force-new-cluster")) throw new Unsupported("--force-new-cluster");
  if (currentCluster(ctx) !== null) return daemonError(ALREADY_IN_SWARM);
  const advertiseFlag = flag(flags, "--advertise-addr");
  let advertise: string | null;
  if (advertiseFlag === undefined) {
    const addresses = hostAddresses(ctx);
    if (addresses.length > 1) {
      const [a, b] = [addresses[1]!, addresses[0]!];
      return daemonError(`could not choose an IP address to advertise since this system has multiple addresses on different interfaces (${a.ip} on ${a.iface} and ${b.ip} on ${b.iface})`);
    }
    advertise = addresses[0]!.ip;
  } else advertise = systemAddress(ctx, advertiseFlag);
  if (advertise === null) return daemonError(NOT_SYSTEM_ADDRESS);
  const dataPath = flag(flags, "--data-path-addr");
  if (dataPath !== undefined && systemAddress(ctx, dataPath) === null) {
    return daemonError("must specify a listening address because the address to advertise is not recognized as a system address, and a system's IP address to use could not be uniquely identified");
  }
  const pools = list(flags, "--default-addr-pool");
  for (const pool of pools) {
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(pool)) return daemonError(`invalid default address pool ${pool}`);
  }
  const availability = flag(flags, "--availability") ?? "active";
  if (!["active", "pause", "drain"].includes(availability)) return fail(1, `invalid availability "${availability}"`);
  const now = isoNow();
  const nodeId = randomId(25);
  const caDigest = randomId(50);
  const cluster: SwarmCluster = {
    id: randomId(25),
    createdAt: now,
    leader: nodeId,
    managers: [nodeId],
    tokens: { manager: newToken(caDigest), worker: newToken(caDigest) },
    nodes: {
      [nodeId]: {
        id: nodeId,
        hostname: ctx.host.hostname,
        serverId: ctx.host.serverId,
        addr: advertise,
        labels: {},
        role: "manager",
        availability: availability as SwarmNode["availability"],
        state: "ready",
        left: false,
        createdAt: now,
        updatedAt: now,
      },
    },
    secrets: {},
    stacks: {},
    defaultAddrPool: pools,
    dataPathAddr: dataPath === undefined ? null : systemAddress(ctx, dataPath),
  };
  ctx.state.swarms[cluster.id] = cluster;
  Object.assign(ctx.host, { localNodeState: "active", nodeId, swarmId: cluster.id });
  return ok(
    `Swarm initialized: current node (${nodeId}) is now a manager.\n\n` +
      `To add a worker to this swarm, run the following command:\n\n` +
      `    docker swarm join --token ${cluster.tokens.worker} ${advertise}:2377\n\n` +
      `To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.\n\n`,
  );
}

function swarmJoinToken(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--quiet": "bool", "--rotate": "bool" }, { "-q": "--quiet" });
  if (flags.positionals.length !== 1) return fail(1, '"docker swarm join-token" requires exactly 1 argument.\nSee \'docker swarm join-token --help\'.');
  const role = flags.positionals[0]!;
  if (role !== "manager" && role !== "worker") return fail(1, `unknown role ${role}`);
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster, node } = current;
  let rotated = "";
  if (isSet(flags, "--rotate")) {
    cluster.tokens[role] = newToken(cluster.tokens[role].split("-")[2]!);
    rotated = `Successfully rotated ${role} join token.\n\n`;
  }
  if (isSet(flags, "--quiet")) return ok(`${cluster.tokens[role]}\n`);
  return ok(
    `${rotated}To add a ${role} to this swarm, run the following command:\n\n    docker swarm join --token ${cluster.tokens[role]} ${node.addr}:2377\n\n`,
  );
}

function swarmJoin(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--token": "string", "--advertise-addr": "string", "--listen-addr": "string", "--data-path-addr": "string", "--availability": "string" });
  if (flags.positionals.length !== 1) return fail(1, '"docker swarm join" requires exactly 1 argument.\nSee \'docker swarm join --help\'.');
  if (currentCluster(ctx) !== null) return daemonError(ALREADY_IN_SWARM);
  const advertiseFlag = flag(flags, "--advertise-addr");
  const advertise = advertiseFlag === undefined ? (ctx.host.privateIp ?? ctx.host.ip) : systemAddress(ctx, advertiseFlag);
  if (advertise === null) return daemonError(NOT_SYSTEM_ADDRESS);
  const dataPath = flag(flags, "--data-path-addr");
  if (dataPath !== undefined && systemAddress(ctx, dataPath) === null) return daemonError(NOT_SYSTEM_ADDRESS);
  const availability = flag(flags, "--availability") ?? "active";
  if (!["active", "pause", "drain"].includes(availability)) return fail(1, `invalid availability "${availability}"`);
  const remote = /^([^:]+)(?::(\d+))?$/.exec(flags.positionals[0]!);
  const remoteIp = remote?.[1];
  const remotePort = remote?.[2] ?? "2377";
  let target: SwarmCluster | undefined;
  for (const cluster of Object.values(ctx.state.swarms)) {
    refreshCluster(ctx, cluster);
    const manager = cluster.managers.map((id) => cluster.nodes[id]).find((node) => node !== undefined && node.addr === remoteIp && node.state === "ready");
    if (manager && remotePort === "2377" && hasQuorum(cluster)) target = cluster;
  }
  if (target === undefined) return daemonError(JOIN_TIMEOUT);
  const token = flag(flags, "--token") ?? "";
  const role = token === target.tokens.manager ? "manager" : token === target.tokens.worker ? "worker" : null;
  if (role === null) return daemonError(INVALID_TOKEN);
  const now = isoNow();
  const nodeId = randomId(25);
  target.nodes[nodeId] = {
    id: nodeId,
    hostname: ctx.host.hostname,
    serverId: ctx.host.serverId,
    addr: advertise,
    labels: {},
    role,
    availability: availability as SwarmNode["availability"],
    state: "ready",
    left: false,
    createdAt: now,
    updatedAt: now,
  };
  if (role === "manager") target.managers.push(nodeId);
  Object.assign(ctx.host, { localNodeState: "active", nodeId, swarmId: target.id });
  return ok(`This node joined a swarm as a ${role}.\n`);
}

function swarmLeave(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--force": "bool" }, { "-f": "--force" });
  if (flags.positionals.length > 0) return fail(1, '"docker swarm leave" accepts no arguments.');
  const current = currentCluster(ctx);
  if (current === null) return daemonError("This node is not part of a swarm");
  const { cluster, node } = current;
  if (node.role === "manager" && !isSet(flags, "--force")) {
    const remaining = cluster.managers.length - 1;
    return daemonError(
      `You are attempting to leave the swarm on a node that is participating as a manager. Removing this node leaves ${remaining} managers out of ${cluster.managers.length}. ` +
        "Without a Raft quorum your swarm will be inaccessible. The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message.",
    );
  }
  node.left = true;
  node.state = "down";
  if (node.role === "manager") {
    cluster.managers = cluster.managers.filter((id) => id !== node.id);
    node.role = "worker";
  }
  Object.assign(ctx.host, { localNodeState: "inactive", nodeId: null, swarmId: null });
  if (cluster.managers.length === 0) delete ctx.state.swarms[cluster.id];
  return ok("Node left the swarm.\n");
}

// ---------------------------------------------------------------------------------------------
// docker node

function nodeLs(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string", "--quiet": "bool" }, { "-q": "--quiet" });
  if (flags.positionals.length > 0) return fail(1, '"docker node ls" accepts no arguments.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster } = current;
  const nodes = Object.values(cluster.nodes).sort((a, b) => naturalOrder(a.hostname, b.hostname));
  const rows = nodes.map((node) => nodeRow(ctx, cluster, node));
  if (isSet(flags, "--quiet")) return ok(rows.map((row) => `${row.ID}\n`).join(""));
  const format = flag(flags, "--format");
  if (format !== undefined) return ok(formatRows(rows, format));
  return ok(
    table(
      ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"],
      rows.map((row) => [`${row.ID}${row.Self ? " *" : ""}`, row.Hostname, row.Status, row.Availability, row.ManagerStatus, row.EngineVersion]),
    ),
  );
}

function nodeUpdate(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--label-add": "list", "--label-rm": "list", "--availability": "string", "--role": "string" });
  if (flags.positionals.length !== 1) return fail(1, '"docker node update" requires exactly 1 argument.\nSee \'docker node update --help\'.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster } = current;
  const ref = flags.positionals[0]!;
  const node = findNode(cluster, ref);
  if (isResult(node)) return node;
  const availability = flag(flags, "--availability");
  if (availability !== undefined && !["active", "pause", "drain"].includes(availability)) return fail(1, `invalid argument "${availability}" for "--availability" flag`);
  const role = flag(flags, "--role");
  if (role !== undefined && role !== "manager" && role !== "worker") return fail(1, `invalid argument "${role}" for "--role" flag`);
  for (const key of list(flags, "--label-rm")) {
    if (!(key in node.labels)) return fail(1, `key ${key} doesn't exist in node's labels`);
    delete node.labels[key];
  }
  for (const pair of list(flags, "--label-add")) {
    const eq = pair.indexOf("=");
    node.labels[eq >= 0 ? pair.slice(0, eq) : pair] = eq >= 0 ? pair.slice(eq + 1) : "";
  }
  if (availability !== undefined) node.availability = availability as SwarmNode["availability"];
  if (role !== undefined) {
    const change = setRole(cluster, node, role);
    if (change !== null) return change;
  }
  node.updatedAt = isoNow();
  return ok(`${ref}\n`);
}

function setRole(cluster: SwarmCluster, node: SwarmNode, role: "manager" | "worker"): Result | null {
  if (role === node.role) return null;
  if (role === "worker") {
    if (cluster.managers.length === 1) return daemonError("rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm");
    // swarmkit's raft.CanRemoveMember: the other managers still reachable must be a quorum of the members before removal minus one.
    const reachableOthers = cluster.managers.filter((id) => id !== node.id && cluster.nodes[id]?.state === "ready").length;
    if (reachableOthers < Math.floor((cluster.managers.length - 1) / 2) + 1) {
      return daemonError("rpc error: code = FailedPrecondition desc = can't remove member from the raft: this would result in a loss of quorum");
    }
    cluster.managers = cluster.managers.filter((id) => id !== node.id);
  } else cluster.managers.push(node.id);
  node.role = role;
  return null;
}

function nodePromoteDemote(ctx: Context, args: string[], role: "manager" | "worker"): Result {
  const flags = parseFlags(args, {});
  if (flags.positionals.length === 0) return fail(1, `"docker node ${role === "manager" ? "promote" : "demote"}" requires at least 1 argument.`);
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  let stdout = "";
  for (const ref of flags.positionals) {
    const node = findNode(current.cluster, ref);
    if (isResult(node)) return { ...node, stdout };
    if (node.role === role) {
      stdout += role === "manager" ? `Node ${ref} is already a manager.\n` : `Node ${ref} is already a worker.\n`;
      continue;
    }
    const error = setRole(current.cluster, node, role);
    if (error !== null) return { ...error, stdout };
    stdout += role === "manager" ? `Node ${ref} promoted to a manager in the swarm.\n` : `Manager ${ref} demoted in the swarm.\n`;
  }
  return ok(stdout);
}

function nodeInspect(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string", "--pretty": "bool" }, { "-f": "--format" });
  if (isSet(flags, "--pretty")) throw new Unsupported("--pretty");
  if (flags.positionals.length === 0) return fail(1, '"docker node inspect" requires at least 1 argument.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster, node: self } = current;
  const objects = [];
  for (const ref of flags.positionals) {
    const node = ref === "self" ? self : findNode(cluster, ref);
    if (isResult(node)) return fail(1, `Error: No such node: ${ref}`, objects.length > 0 ? `${JSON.stringify(objects, null, 4)}\n` : "");
    objects.push(nodeObject(cluster, node));
  }
  const format = flag(flags, "--format");
  if (format !== undefined) return ok(formatRows(objects, format));
  return ok(`${JSON.stringify(objects, null, 4)}\n`);
}

function nodeRm(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--force": "bool" }, { "-f": "--force" });
  if (flags.positionals.length === 0) return fail(1, '"docker node rm" requires at least 1 argument.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster } = current;
  let stdout = "";
  for (const ref of flags.positionals) {
    const node = findNode(cluster, ref);
    if (isResult(node)) return { ...node, stdout };
    if (node.role === "manager") {
      return { ...daemonError(`rpc error: code = FailedPrecondition desc = node ${node.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`), stdout };
    }
    if (node.state === "ready" && !isSet(flags, "--force")) {
      return { ...daemonError(`rpc error: code = FailedPrecondition desc = node ${node.id} is not down and can't be removed`), stdout };
    }
    removeNode(ctx, cluster, node);
    stdout += `${ref}\n`;
  }
  return ok(stdout);
}

// ---------------------------------------------------------------------------------------------
// docker secret

const SECRET_NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,62}[a-zA-Z0-9])?$/;

function secretObject(name: string, cluster: SwarmCluster) {
  const secret = cluster.secrets[name]!;
  return { ID: secret.id, Version: { Index: 1 }, CreatedAt: secret.createdAt, UpdatedAt: secret.createdAt, Spec: { Name: name, Labels: sortedObject(secret.labels) } };
}

function findSecret(cluster: SwarmCluster, ref: string): string | null {
  if (cluster.secrets[ref]) return ref;
  const byId = Object.entries(cluster.secrets).filter(([, secret]) => secret.id === ref || secret.id.startsWith(ref));
  return byId.length === 1 ? byId[0]![0] : null;
}

function secretLs(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string", "--quiet": "bool", "--filter": "list" }, { "-q": "--quiet", "-f": "--filter" });
  if (flags.positionals.length > 0) return fail(1, '"docker secret ls" accepts no arguments.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster } = current;
  const names = filterNames(Object.keys(cluster.secrets).sort(naturalOrder), cluster.secrets, list(flags, "--filter"));
  if (isResult(names)) return names;
  const rows = names.map((name) => {
    const secret = cluster.secrets[name]!;
    return { CreatedAt: secret.createdAt, Driver: "", ID: secret.id, Labels: labelText(secret.labels), Name: name, UpdatedAt: secret.createdAt };
  });
  if (isSet(flags, "--quiet")) return ok(rows.map((row) => `${row.ID}\n`).join(""));
  const format = flag(flags, "--format");
  if (format !== undefined) return ok(formatRows(rows, format));
  return ok(table(["ID", "NAME", "DRIVER", "CREATED", "UPDATED"], rows.map((row) => [row.ID, row.Name, row.Driver, row.CreatedAt, row.UpdatedAt])));
}

function secretCreate(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--label": "list", "--driver": "string", "--template-driver": "string" }, { "-l": "--label", "-d": "--driver" });
  if (flag(flags, "--driver") !== undefined || flag(flags, "--template-driver") !== undefined) throw new Unsupported("secret drivers");
  if (flags.positionals.length !== 2) return fail(1, '"docker secret create" requires exactly 2 arguments.\nSee \'docker secret create --help\'.');
  const [name, file] = flags.positionals as [string, string];
  if (file !== "-") throw new Unsupported("secret create from a remote file (only `-`, stdin)");
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster } = current;
  if (!SECRET_NAME.test(name)) {
    return daemonError("rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]");
  }
  const data = ctx.stdin ?? Buffer.alloc(0);
  if (data.length === 0 || data.length >= MAX_SECRET_SIZE) {
    return daemonError(`rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than ${MAX_SECRET_SIZE} bytes`);
  }
  if (cluster.secrets[name]) return daemonError(`rpc error: code = AlreadyExists desc = secret ${name} already exists`);
  const labels: Record<string, string> = {};
  for (const pair of list(flags, "--label")) {
    const eq = pair.indexOf("=");
    labels[eq >= 0 ? pair.slice(0, eq) : pair] = eq >= 0 ? pair.slice(eq + 1) : "";
  }
  const id = randomId(25);
  cluster.secrets[name] = { id, labels, createdAt: isoNow(), dataSha256: ctx.stdinSha256 ?? "", size: data.length };
  return ok(`${id}\n`);
}

// `docker config ls/create`, kept like secrets: the same name rule and labels, immutable, data of
// 1 byte up to under swarmkit's MaxConfigSize (manager/controlapi/config.go, checked 2026-12-06:
// "config data must be larger than 0 and less than 1024000 bytes").
const MAX_CONFIG_SIZE = 1000 * 1024;

/** `--filter name=…|id=…|label=key[=value]`, as docker's secret and config lists take them. */
function filterNames(names: string[], objects: Record<string, SwarmSecret>, filters: string[]): string[] | Result {
  let kept = names;
  for (const filter of filters) {
    const [key, ...rest] = filter.split("=");
    const value = rest.join("=");
    if (key === "name") kept = kept.filter((name) => name.startsWith(value));
    else if (key === "id") kept = kept.filter((name) => objects[name]!.id.startsWith(value));
    else if (key === "label") {
      const [labelKey, ...labelValue] = value.split("=");
      kept = kept.filter((name) => {
        const labels = objects[name]!.labels;
        return labelKey! in labels && (labelValue.length === 0 || labels[labelKey!] === labelValue.join("="));
      });
    } else return fail(1, `Error response from daemon: invalid filter '${key}'`);
  }
  return kept;
}

const labelText = (labels: Record<string, string>) =>
  Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

function configLs(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string", "--quiet": "bool", "--filter": "list" }, { "-q": "--quiet", "-f": "--filter" });
  if (flags.positionals.length > 0) return fail(1, '"docker config ls" accepts no arguments.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const configs = current.cluster.configs ?? {};
  const names = filterNames(Object.keys(configs).sort(naturalOrder), configs, list(flags, "--filter"));
  if (isResult(names)) return names;
  const rows = names.map((name) => ({ ID: configs[name]!.id, Name: name, CreatedAt: configs[name]!.createdAt, UpdatedAt: configs[name]!.createdAt, Labels: labelText(configs[name]!.labels) }));
  if (isSet(flags, "--quiet")) return ok(rows.map((row) => `${row.ID}\n`).join(""));
  const format = flag(flags, "--format");
  if (format !== undefined) return ok(formatRows(rows, format));
  return ok(table(["ID", "NAME", "CREATED", "UPDATED"], rows.map((row) => [row.ID, row.Name, row.CreatedAt, row.UpdatedAt])));
}

function configRm(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, {});
  if (flags.positionals.length === 0) return fail(1, '"docker config rm" requires at least 1 argument.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const configs = (current.cluster.configs ??= {});
  let stdout = "";
  const errors: string[] = [];
  for (const ref of flags.positionals) {
    const name = configs[ref] ? ref : (Object.entries(configs).find(([, config]) => config.id === ref)?.[0] ?? null);
    if (name === null) {
      errors.push(`Error response from daemon: config ${ref} not found`);
      continue;
    }
    const users = servicesUsing(current.cluster, "configs", name);
    if (users.length > 0) {
      errors.push(`Error response from daemon: rpc error: code = InvalidArgument desc = config '${name}' is in use by the following service${users.length > 1 ? "s" : ""}: ${users.join(", ")}`);
      continue;
    }
    delete configs[name];
    stdout += `${ref}\n`;
  }
  return errors.length > 0 ? fail(1, errors.join("\n"), stdout) : ok(stdout);
}

function configCreate(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--label": "list", "--template-driver": "string" }, { "-l": "--label" });
  if (flag(flags, "--template-driver") !== undefined) throw new Unsupported("config template drivers");
  if (flags.positionals.length !== 2) return fail(1, '"docker config create" requires exactly 2 arguments.\nSee \'docker config create --help\'.');
  const [name, file] = flags.positionals as [string, string];
  if (file !== "-") throw new Unsupported("config create from a remote file (only `-`, stdin)");
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster } = current;
  if (!SECRET_NAME.test(name)) {
    return daemonError("rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]");
  }
  const data = ctx.stdin ?? Buffer.alloc(0);
  if (data.length === 0 || data.length >= MAX_CONFIG_SIZE) {
    return daemonError(`rpc error: code = InvalidArgument desc = config data must be larger than 0 and less than ${MAX_CONFIG_SIZE} bytes`);
  }
  cluster.configs ??= {};
  if (cluster.configs[name]) return daemonError(`rpc error: code = AlreadyExists desc = config ${name} already exists`);
  const labels: Record<string, string> = {};
  for (const pair of list(flags, "--label")) {
    const eq = pair.indexOf("=");
    labels[eq >= 0 ? pair.slice(0, eq) : pair] = eq >= 0 ? pair.slice(eq + 1) : "";
  }
  const id = randomId(25);
  cluster.configs[name] = { id, labels, createdAt: isoNow(), dataSha256: "", size: data.length };
  return ok(`${id}\n`);
}

/** Services whose spec references the docker secret (or config) `name`, as swarmkit checks on rm. */
function servicesUsing(cluster: SwarmCluster, kind: "secrets" | "configs", name: string): string[] {
  return Object.values(cluster.stacks)
    .flatMap((stack) => Object.values(stack.services))
    .filter((service) => (service[kind] ?? []).includes(name))
    .map((service) => service.name)
    .sort();
}

function secretRm(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, {});
  if (flags.positionals.length === 0) return fail(1, '"docker secret rm" requires at least 1 argument.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster } = current;
  let stdout = "";
  const errors: string[] = [];
  for (const ref of flags.positionals) {
    const name = findSecret(cluster, ref);
    if (name === null) {
      errors.push(`Error: No such secret: ${ref}`);
      continue;
    }
    const users = servicesUsing(cluster, "secrets", name);
    if (users.length > 0) {
      errors.push(`Error response from daemon: rpc error: code = InvalidArgument desc = secret '${name}' is in use by the following service${users.length > 1 ? "s" : ""}: ${users.join(", ")}`);
      continue;
    }
    delete cluster.secrets[name];
    stdout += `${ref}\n`;
  }
  return errors.length > 0 ? fail(1, errors.join("\n"), stdout) : ok(stdout);
}

function secretInspect(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string", "--pretty": "bool" }, { "-f": "--format" });
  if (isSet(flags, "--pretty")) throw new Unsupported("--pretty");
  if (flags.positionals.length === 0) return fail(1, '"docker secret inspect" requires at least 1 argument.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const objects = [];
  for (const ref of flags.positionals) {
    const name = findSecret(current.cluster, ref);
    if (name === null) return fail(1, `Error: No such secret: ${ref}`, objects.length > 0 ? `${JSON.stringify(objects, null, 4)}\n` : "");
    objects.push(secretObject(name, current.cluster));
  }
  const format = flag(flags, "--format");
  return ok(format !== undefined ? formatRows(objects, format) : `${JSON.stringify(objects, null, 4)}\n`);
}

// ---------------------------------------------------------------------------------------------
// docker stack / service

function schedulableNodes(cluster: SwarmCluster): SwarmNode[] {
  return Object.values(cluster.nodes).filter((node) => !node.left && node.availability === "active");
}

function serviceRow(ctx: Context, cluster: SwarmCluster, service: SwarmService) {
  const nodes = schedulableNodes(cluster);
  const ready = nodes.filter((node) => node.state === "ready").length;
  const desired = service.mode === "global" ? nodes.length : service.replicas;
  const running = service.mode === "global" ? ready : ready > 0 ? service.replicas : 0;
  service.running = running;
  return {
    ID: service.id.slice(0, 12),
    Image: service.image,
    Mode: service.mode,
    Name: service.name,
    Ports: service.ports,
    Replicas: ctx.state.serviceHealth[service.name] ?? `${running}/${desired}`,
  };
}

function stackDeploy(ctx: Context, args: string[]): Result {
  const flags = parseFlags(
    args,
    { "--compose-file": "list", "--prune": "bool", "--with-registry-auth": "bool", "--detach": "bool", "--quiet": "bool", "--resolve-image": "string" },
    { "-c": "--compose-file", "-d": "--detach", "-q": "--quiet" },
  );
  const files = list(flags, "--compose-file");
  if (files.length !== 1 || files[0] !== "-") throw new Unsupported("stack deploy reads exactly one compose file, from stdin (-c -)");
  if (flags.positionals.length !== 1) return fail(1, '"docker stack deploy" requires exactly 1 argument.\nSee \'docker stack deploy --help\'.');
  const stackName = flags.positionals[0]!;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(stackName)) return fail(1, `invalid stack name "${stackName}"`);
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const { cluster } = current;
  const text = (ctx.stdin ?? Buffer.alloc(0)).toString("utf8");
  if (text.trim() === "") return fail(1, "Top-level object must be a mapping");
  const compose = parseCompose(text);
  if (compose.services.length === 0) {
    throw new Unsupported('no services found in the compose file (the fake reads the 2-space-indented keys under a top-level "services:")');
  }
  // Like docker/cli's convertServiceSecrets: every secret a service references must be declared, and
  // an external one must exist in the swarm.
  const referenced = compose.services.some((service) => service.secrets.length > 0);
  for (const service of compose.services) {
    for (const ref of service.secrets) {
      const top = compose.secrets.get(ref);
      if (top === undefined) return fail(1, `service ${service.key}: undefined secret "${ref}"`);
      const name = top.name ?? ref;
      if (top.external && !cluster.secrets[name]) return fail(1, `service ${service.key}: secret not found: ${name}`);
    }
  }
  if (!referenced) {
    for (const [key, top] of compose.secrets) {
      if (top.external && !cluster.secrets[top.name ?? key]) return fail(1, `secret not found: ${top.name ?? key}`);
    }
  }
  // The same for configs (docker/cli convertServiceConfigObjs looks each external one up).
  for (const service of compose.services) {
    for (const ref of service.configs) {
      const top = compose.configs.get(ref);
      if (top === undefined) return fail(1, `service ${service.key}: undefined config "${ref}"`);
      if (top.external && !cluster.configs?.[top.name ?? ref]) return fail(1, `service ${service.key}: config not found: ${top.name ?? ref}`);
    }
  }
  // Like docker/cli's validateExternalNetworks: only networks that exist (the predefined ones, or
  // made by a deployed stack: the fake has no `docker network create`).
  const existingNetworks = new Set(["host", "bridge", "ingress", "none"]);
  for (const [name, stack] of Object.entries(cluster.stacks)) for (const network of stackNetworks(name, parseCompose(stack.file))) existingNetworks.add(network);
  for (const [key, top] of compose.networks) {
    const name = top.name ?? key;
    if (top.external && !existingNetworks.has(name)) {
      return fail(1, `network "${name}" is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed`);
    }
  }
  const now = isoNow();
  const existing = cluster.stacks[stackName];
  let stdout = "";
  for (const network of stackNetworks(stackName, compose)) if (!existingNetworks.has(network)) stdout += `Creating network ${network}\n`;
  const services: Record<string, SwarmService> = {};
  const ready = schedulableNodes(cluster).filter((node) => node.state === "ready").length;
  for (const service of compose.services) {
    const name = `${stackName}_${service.key}`;
    const previous = existing?.services[name];
    stdout += `${previous ? "Updating" : "Creating"} service ${name}\n`;
    const dockerName = (top: ComposeTop | undefined, key: string) => top?.name ?? (top?.external ? key : `${stackName}_${key}`);
    services[name] = {
      id: previous?.id ?? randomId(25),
      name,
      image: service.image,
      mode: service.mode,
      replicas: service.replicas,
      running: service.mode === "global" ? ready : service.replicas,
      ports: service.ports,
      secrets: service.secrets.map((ref) => dockerName(compose.secrets.get(ref), ref)),
      configs: service.configs.map((ref) => dockerName(compose.configs.get(ref), ref)),
      secretFiles: service.secretFiles,
      configFiles: service.configFiles,
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
    };
  }
  for (const [name, service] of Object.entries(existing?.services ?? {})) {
    if (services[name]) continue;
    if (isSet(flags, "--prune")) stdout += `Removing service ${name}\n`;
    else services[name] = service;
  }
  cluster.stacks[stackName] = { file: text, createdAt: existing?.createdAt ?? now, deployedAt: now, services };
  return ok(stdout);
}

/** The networks a stack creates: `<stack>_default` when a service names none, and its non-external ones. */
function stackNetworks(stackName: string, compose: Compose): string[] {
  const networks = [...compose.networks].filter(([, top]) => !top.external).map(([key, top]) => top.name ?? `${stackName}_${key}`);
  if (compose.services.some((service) => !service.hasNetworks)) networks.unshift(`${stackName}_default`);
  return [...new Set(networks)];
}

function stackLs(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string" });
  if (flags.positionals.length > 0) return fail(1, '"docker stack ls" accepts no arguments.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const rows = Object.entries(current.cluster.stacks)
    .sort(([a], [b]) => naturalOrder(a, b))
    .map(([name, stack]) => ({ Name: name, Namespace: name, Orchestrator: "Swarm", Services: String(Object.keys(stack.services).length) }));
  const format = flag(flags, "--format");
  if (format !== undefined) return ok(formatRows(rows, format));
  return ok(table(["NAME", "SERVICES"], rows.map((row) => [row.Name, row.Services])));
}

function serviceListing(ctx: Context, cluster: SwarmCluster, services: SwarmService[], flags: Flags): Result {
  const rows = services.sort((a, b) => naturalOrder(a.name, b.name)).map((service) => serviceRow(ctx, cluster, service));
  if (isSet(flags, "--quiet")) return ok(rows.map((row) => `${row.ID}\n`).join(""));
  const format = flag(flags, "--format");
  if (format !== undefined) return ok(formatRows(rows, format));
  return ok(table(["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], rows.map((row) => [row.ID, row.Name, row.Mode, row.Replicas, row.Image, row.Ports])));
}

function stackServices(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string", "--quiet": "bool" }, { "-q": "--quiet" });
  if (flags.positionals.length !== 1) return fail(1, '"docker stack services" requires exactly 1 argument.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const stackName = flags.positionals[0]!;
  const stack = current.cluster.stacks[stackName];
  if (stack === undefined || Object.keys(stack.services).length === 0) return { exitCode: 0, stdout: "", stderr: `Nothing found in stack: ${stackName}\n` };
  return serviceListing(ctx, current.cluster, Object.values(stack.services), flags);
}

function stackRm(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--detach": "bool" }, { "-d": "--detach" });
  if (flags.positionals.length === 0) return fail(1, '"docker stack rm" requires at least 1 argument.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  let stdout = "";
  let stderr = "";
  for (const stackName of flags.positionals) {
    const stack = current.cluster.stacks[stackName];
    if (stack === undefined) {
      stderr += `Nothing found in stack: ${stackName}\n`;
      continue;
    }
    for (const name of Object.keys(stack.services).sort(naturalOrder)) stdout += `Removing service ${name}\n`;
    for (const network of stackNetworks(stackName, parseCompose(stack.file))) stdout += `Removing network ${network}\n`;
    delete current.cluster.stacks[stackName];
  }
  return { exitCode: 0, stdout, stderr };
}

function serviceLs(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string", "--quiet": "bool" }, { "-q": "--quiet" });
  if (flags.positionals.length > 0) return fail(1, '"docker service ls" accepts no arguments.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const services = Object.values(current.cluster.stacks).flatMap((stack) => Object.values(stack.services));
  return serviceListing(ctx, current.cluster, services, flags);
}

/** Docker's service lookup: full id, name, then a unique id prefix. */
function findService(cluster: SwarmCluster, ref: string): SwarmService | null {
  const all = Object.values(cluster.stacks).flatMap((stack) => Object.values(stack.services));
  const exact = all.find((service) => service.id === ref || service.name === ref);
  if (exact) return exact;
  const prefixed = all.filter((service) => service.id.startsWith(ref));
  return prefixed.length === 1 ? prefixed[0]! : null;
}

/** A service as the Engine API shows it (swarm.Service), the fields the CLI reads. */
function serviceObject(cluster: SwarmCluster, service: SwarmService) {
  const [stack] = service.name.split("_");
  const fileTarget = (name: string) => ({ Name: name, UID: "0", GID: "0", Mode: 0o444 });
  const secrets = (service.secrets ?? []).flatMap((name, index) =>
    cluster.secrets[name] ? [{ File: fileTarget(service.secretFiles?.[index] ?? name), SecretID: cluster.secrets[name]!.id, SecretName: name }] : [],
  );
  const configs = (service.configs ?? []).flatMap((name, index) =>
    cluster.configs?.[name] ? [{ File: fileTarget(service.configFiles?.[index] ?? `/${name}`), ConfigID: cluster.configs[name]!.id, ConfigName: name }] : [],
  );
  return {
    ID: service.id,
    Version: { Index: 1 },
    CreatedAt: service.createdAt,
    UpdatedAt: service.updatedAt,
    Spec: {
      Name: service.name,
      Labels: sortedObject({ "com.docker.stack.image": service.image, "com.docker.stack.namespace": stack ?? "" }),
      TaskTemplate: {
        // An empty list is left out of the JSON (omitempty) and is null to {{json}}, as in Go.
        ContainerSpec: { Image: service.image, Secrets: secrets.length > 0 ? secrets : undefined, Configs: configs.length > 0 ? configs : undefined },
      },
      Mode: service.mode === "global" ? { Global: {} } : { Replicated: { Replicas: service.replicas } },
    },
  };
}

function serviceInspect(ctx: Context, args: string[]): Result {
  const flags = parseFlags(args, { "--format": "string", "--pretty": "bool" }, { "-f": "--format" });
  if (isSet(flags, "--pretty")) throw new Unsupported("--pretty");
  if (flags.positionals.length === 0) return fail(1, '"docker service inspect" requires at least 1 argument.');
  const current = requireManager(ctx);
  if (isResult(current)) return current;
  const objects = [];
  for (const ref of flags.positionals) {
    const service = findService(current.cluster, ref);
    if (service === null) return fail(1, `no such service: ${ref}`);
    objects.push(serviceObject(current.cluster, service));
  }
  const format = flag(flags, "--format");
  return ok(format !== undefined ? formatRows(objects, format) : `${JSON.stringify(objects, null, 4)}\n`);
}

// ---------------------------------------------------------------------------------------------
// the Engine API over its socket (curl --unix-socket /var/run/docker.sock)

/** POST /swarm/join as the daemon answers it: 200 and no body, or {"message"} with its status. */
function apiSwarmJoin(ctx: Context, body: unknown): { status: number; message?: string } {
  if (typeof body !== "object" || body === null) return { status: 400, message: "invalid JSON" };
  const request = body as { ListenAddr?: unknown; AdvertiseAddr?: unknown; DataPathAddr?: unknown; RemoteAddrs?: unknown; JoinToken?: unknown; Availability?: unknown };
  const args: string[] = ["--token", typeof request.JoinToken === "string" ? request.JoinToken : ""];
  if (typeof request.AdvertiseAddr === "string" && request.AdvertiseAddr !== "") args.push("--advertise-addr", request.AdvertiseAddr);
  if (typeof request.DataPathAddr === "string" && request.DataPathAddr !== "") args.push("--data-path-addr", request.DataPathAddr);
  if (typeof request.Availability === "string" && request.Availability !== "") args.push("--availability", request.Availability);
  const remotes = Array.isArray(request.RemoteAddrs) ? request.RemoteAddrs.filter((remote): remote is string => typeof remote === "string") : [];
  if (remotes.length === 0) return { status: 400, message: "at least 1 RemoteAddr is required to join" };
  const result = swarmJoin(ctx, [...args, remotes[0]!]);
  if (result.exitCode === 0) return { status: 200 };
  const message = result.stderr.trim().replace(/^Error response from daemon: /, "");
  const status = message === ALREADY_IN_SWARM ? 503 : /InvalidArgument|must specify a listening address/.test(message) ? 400 : 500;
  return { status, message };
}

function curl(ctx: Context, args: string[]): Result {
  const flags = parseFlags(
    args,
    { "--silent": "bool", "--show-error": "bool", "--fail": "bool", "--fail-with-body": "bool", "--unix-socket": "string", "--header": "list", "--data-binary": "string", "--data": "string", "--request": "string", "--max-time": "string" },
    { "-s": "--silent", "-S": "--show-error", "-f": "--fail", "-H": "--header", "-d": "--data", "-X": "--request", "-m": "--max-time" },
  );
  if (flag(flags, "--unix-socket") !== "/var/run/docker.sock" || flags.positionals.length !== 1) throw new Unsupported("curl only to the Docker socket (--unix-socket /var/run/docker.sock)");
  if (ctx.cloudInitPending) return fail(7, "curl: (7) Couldn't connect to server");
  const url = new URL(flags.positionals[0]!);
  const path = url.pathname.replace(/^\/v1\.\d+(?=\/)/, "");
  const data = flag(flags, "--data-binary") ?? flag(flags, "--data");
  const method = flag(flags, "--request") ?? (data === undefined ? "GET" : "POST");
  if (method !== "POST" || path !== "/swarm/join") throw new Unsupported(`Engine API ${method} ${path} (only POST /swarm/join)`);
  if (data !== "@-") throw new Unsupported("the request body only from stdin (--data-binary @-)");
  let body: unknown;
  try {
    body = JSON.parse((ctx.stdin ?? Buffer.alloc(0)).toString("utf8")) as unknown;
  } catch {
    body = null;
  }
  const answer = apiSwarmJoin(ctx, body);
  const text = answer.message === undefined ? "" : `${JSON.stringify({ message: answer.message })}\n`;
  if (answer.status < 400) return ok(text);
  const failOnError = isSet(flags, "--fail") || isSet(flags, "--fail-with-body");
  if (!failOnError) return ok(text);
  const stderr = isSet(flags, "--silent") && !isSet(flags, "--show-error") ? "" : `curl: (22) The requested URL returned error: ${answer.status}`;
  return { exitCode: 22, stdout: isSet(flags, "--fail-with-body") ? text : "", stderr: stderr === "" ? "" : `${stderr}\n` };
}

// ---------------------------------------------------------------------------------------------
// dispatch

function docker(ctx: Context, args: string[]): Result {
  const [group, sub, ...rest] = args;
  if ((group === "--version" || group === "-v") && sub === undefined) return ok(`Docker version ${ENGINE_VERSION}, build 9f9e405\n`);
  if (group === "info") return dockerInfo(ctx, args.slice(1));
  if (group === "version") return dockerVersion(args.slice(1));
  const current = currentCluster(ctx);
  if (current !== null) refreshCluster(ctx, current.cluster);
  const handlers: Record<string, Record<string, (ctx: Context, args: string[]) => Result>> = {
    swarm: { init: swarmInit, "join-token": swarmJoinToken, join: swarmJoin, leave: swarmLeave },
    node: {
      ls: nodeLs,
      list: nodeLs,
      update: nodeUpdate,
      inspect: nodeInspect,
      rm: nodeRm,
      remove: nodeRm,
      promote: (c, a) => nodePromoteDemote(c, a, "manager"),
      demote: (c, a) => nodePromoteDemote(c, a, "worker"),
    },
    secret: { ls: secretLs, list: secretLs, create: secretCreate, rm: secretRm, remove: secretRm, inspect: secretInspect },
    config: { ls: configLs, list: configLs, create: configCreate, rm: configRm, remove: configRm },
    stack: { deploy: stackDeploy, up: stackDeploy, ls: stackLs, list: stackLs, services: stackServices, rm: stackRm, remove: stackRm, down: stackRm },
    service: { ls: serviceLs, list: serviceLs, inspect: serviceInspect },
  };
  const handler = group === undefined || sub === undefined ? undefined : handlers[group]?.[sub];
  if (handler === undefined) throw new Unsupported(`docker ${group ?? ""} ${sub ?? ""}`.trim());
  return handler(ctx, rest);
}

/** `bash -s`, `sh -se`, `bash -euo pipefail -s -- args`: a script on stdin. */
function isStdinShell(words: string[]): boolean {
  if (!["bash", "sh", "/bin/bash", "/bin/sh", "/usr/bin/bash"].includes(words[0] ?? "")) return false;
  for (let i = 1; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--" || !word.startsWith("-")) return false;
    if (word === "-o" || word === "+o") {
      i++;
      continue;
    }
    if (/^-[a-zA-Z]*s[a-zA-Z]*$/.test(word)) return true;
  }
  return false;
}

/** `curl … --data-binary @-` (or -d @-): the request body on stdin. */
const curlFromStdin = (words: string[]) => words[0] === "curl" && words.some((word, index) => (word === "@-" && ["--data-binary", "--data", "-d"].includes(words[index - 1] ?? "")) || word === "--data-binary=@-");

/** Commands that read stdin to its end before they answer. */
function readsStdin(words: string[] | null): boolean {
  if (words === null) return false;
  if (isStdinShell(words)) return true;
  if (curlFromStdin(words)) return true;
  if (words[0] !== "docker") return false;
  if ((words[1] === "secret" || words[1] === "config") && words[2] === "create") return words[words.length - 1] === "-";
  if (words[1] === "stack" && (words[2] === "deploy" || words[2] === "up")) return words.some((word) => word === "-" || word === "--compose-file=-" || word === "-c=-");
  return false;
}

/** Commands whose stdin is a secret: a secret's value, a password, a join request (its token). */
const redacts = (words: string[] | null) =>
  words !== null && ((words[0] === "docker" && ((words[1] === "secret" && words[2] === "create") || words.includes("--password-stdin"))) || curlFromStdin(words));

function runCommand(ctx: Context): Result {
  const { words } = ctx;
  const [program, ...args] = words;
  if (program === "true" || program === ":") return ok();
  if (program === "echo") return ok(`${args.join(" ")}\n`);
  if (program === "hostname" && args.length === 0) return ok(`${ctx.host.hostname}\n`);
  if (program === "cloud-init" && args[0] === "status") {
    const rest = args.slice(1);
    if (rest.length === 0) return ok(ctx.cloudInitPending ? "status: running\n" : "status: done\n");
    if (rest.length === 1 && (rest[0] === "--wait" || rest[0] === "-w")) {
      const waited = ctx.cloudInitPending;
      ctx.host.cloudInitDone = true;
      ctx.cloudInitPending = false;
      return ok(waited ? "\nstatus: done\n" : "status: done\n");
    }
  }
  if (isStdinShell(words)) return ok();
  // The data volume: always mounted here (arm a fault with exit 1 to play a node without it).
  if (program === "mountpoint" && args.length === 2 && args[0] === "-q" && args[1]?.startsWith("/")) return ok();
  if (program === "mkdir" && args[0] === "-p" && args.length > 1 && args.slice(1).every((path) => path.startsWith("/"))) return ok();
  if (program === "cat" && args.length === 1 && args[0] === HOST_KEY_FILE) return ok(`${(ctx.host.hostKey ??= newHostKey())} root@${ctx.host.hostname}\n`);
  if (program === "docker") {
    if (ctx.cloudInitPending) return fail(127, "bash: line 1: docker: command not found");
    return docker(ctx, args);
  }
  if (program === "curl") return curl(ctx, args);
  throw new Unsupported(program === undefined ? "no command (an interactive shell)" : `${program}`);
}

// ---------------------------------------------------------------------------------------------
// I/O

/** GET over a bare socket: node:http alone would add ~50 ms to every call's start-up. */
function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const target = new URL(url);
  if (target.protocol !== "http:") return Promise.reject(new Error(`only http:// URLs: ${url}`));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.hostname, port: Number(target.port || 80) });
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error(`timed out: GET ${url}`)));
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => {
      try {
        resolve(parseHttpResponse(Buffer.concat(chunks)));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`, "Connection: close", "Accept: application/json"];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    socket.end(`${lines.join("\r\n")}\r\n\r\n`);
  });
}

function parseHttpResponse(raw: Buffer): { status: number; body: unknown } {
  const split = raw.indexOf("\r\n\r\n");
  if (split < 0) throw new Error("incomplete HTTP response");
  const head = raw.subarray(0, split).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "")?.[1] ?? "0");
  const chunked = head.some((line) => /^transfer-encoding:\s*chunked/i.test(line));
  let body = raw.subarray(split + 4);
  if (chunked) {
    const parts: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const lineEnd = body.indexOf("\r\n", offset);
      if (lineEnd < 0) throw new Error("bad chunked body");
      const size = parseInt(body.subarray(offset, lineEnd).toString("latin1"), 16);
      if (!(size > 0)) break;
      parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      offset = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  const text = body.toString("utf8");
  return { status, body: text === "" ? null : (JSON.parse(text) as unknown) };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

async function liveServers(base: string): Promise<Map<number, LiveServer>> {
  const { status, body } = await getJson(`${base}/__fake/servers`);
  const list = Array.isArray(body) ? body : isRecord(body) && Array.isArray(body.servers) ? body.servers : null;
  if (status !== 200 || list === null) throw new Error(`GET ${base}/__fake/servers answered ${status}`);
  const servers = new Map<number, LiveServer>();
  for (const item of list as unknown[]) {
    if (!isRecord(item) || typeof item.id !== "number") continue;
    servers.set(item.id, {
      id: item.id,
      name: String(item.name),
      status: String(item.status),
      networks: Array.isArray(item.networks) ? item.networks.filter((n): n is number => typeof n === "number") : [],
      serverType: typeof item.server_type === "string" ? item.server_type : "",
    });
  }
  return servers;
}

/** Every server's addresses through the real API (rate-limited; only when the cache is missing one). */
async function apiServers(base: string): Promise<Record<string, CachedServer>> {
  const token = process.env.FAKE_SSH_HCLOUD_TOKEN ?? "fake-hcloud-token";
  const servers: Record<string, CachedServer> = {};
  for (let page = 1, attempts = 0; page !== 0; ) {
    const { status, body } = await getJson(`${base}/v1/servers?per_page=50&page=${page}`, { authorization: `Bearer ${token}` });
    if (status === 429 && attempts++ < 3) {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      continue;
    }
    if (status !== 200 || !isRecord(body) || !Array.isArray(body.servers)) throw new Error(`GET ${base}/v1/servers answered ${status}`);
    for (const server of body.servers as unknown[]) {
      if (!isRecord(server) || typeof server.id !== "number") continue;
      const publicNet = isRecord(server.public_net) ? server.public_net : {};
      const ipv4 = isRecord(publicNet.ipv4) ? publicNet.ipv4 : null;
      const privateNet = Array.isArray(server.private_net) ? server.private_net.filter(isRecord) : [];
      servers[server.id] = {
        id: server.id,
        ip: typeof ipv4?.ip === "string" ? ipv4.ip : null,
        privateIp: typeof privateNet[0]?.ip === "string" ? privateNet[0].ip : null,
        networks: privateNet.map((net) => net.network).filter((n): n is number => typeof n === "number"),
      };
    }
    const pagination = isRecord(body.meta) && isRecord(body.meta.pagination) ? body.meta.pagination : {};
    page = typeof pagination.next_page === "number" ? pagination.next_page : 0;
  }
  return servers;
}

const sameNumbers = (a: number[], b: number[]) => a.length === b.length && a.every((value, i) => value === b[i]);

function findTarget(live: Map<number, LiveServer>, cache: Record<string, CachedServer>, ip: string): LiveServer | undefined {
  for (const server of live.values()) {
    const cached = cache[server.id];
    if (cached?.ip === ip && sameNumbers(cached.networks, server.networks)) return server;
  }
  return undefined;
}

function writeAll(fd: number, text: string): void {
  const buffer = Buffer.from(text, "utf8");
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += writeSync(fd, buffer, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

type Stdin = { chunks: Buffer[]; ended: Promise<void>; done: boolean };

function startStdin(): Stdin | null {
  if (process.stdin.isTTY) return null;
  const stdin: Stdin = { chunks: [], ended: Promise.resolve(), done: false };
  stdin.ended = new Promise((resolve) => {
    const finish = () => {
      stdin.done = true;
      resolve();
    };
    process.stdin.on("data", (chunk: Buffer) => stdin.chunks.push(chunk));
    process.stdin.on("end", finish);
    process.stdin.on("error", finish);
  });
  return stdin;
}

function exit(result: Result): never {
  if (result.stdout !== "") writeAll(1, result.stdout);
  if (result.stderr !== "") writeAll(2, result.stderr);
  process.exit(result.exitCode);
}

const refused = (host: string, port: number): Result => fail(255, `ssh: connect to host ${host} port ${port}: Connection refused`);

async function main(): Promise<never> {
  const parsed = parseSshArgs(process.argv.slice(2));
  if (typeof parsed === "string") exit(fail(255, parsed === "no destination" ? SSH_USAGE : `ssh: ${parsed}\n${SSH_USAGE}`));
  const invocation = parsed;
  const statePath = process.env.FAKE_SSH_STATE;
  const base = process.env.FAKE_HETZNER_URL?.replace(/\/+$/, "");
  if (!statePath || !base) exit(fail(255, "fake-ssh: FAKE_SSH_STATE and FAKE_HETZNER_URL must be set"));
  const command = invocation.words.join(" ");
  const words = shellWords(command);
  const stdin = startStdin();

  let warnings = "";
  for (const file of invocation.identityFiles) {
    if (!existsSync(file)) warnings += `Warning: Identity file ${file} not accessible: No such file or directory.\n`;
  }

  // Resolve the destination (network I/O, before taking the lock).
  let live: Map<number, LiveServer>;
  let fetched: Record<string, CachedServer> | null = null;
  let target: LiveServer | undefined;
  let snapshot: FakeSshState;
  try {
    snapshot = readFakeSshState(statePath);
    live = await liveServers(base);
    target = findTarget(live, snapshot.servers, invocation.host);
    const cacheIncomplete = [...live.values()].some((server) => !snapshot.servers[server.id] || !sameNumbers(snapshot.servers[server.id]!.networks, server.networks));
    if (target === undefined && cacheIncomplete && /^\d{1,3}(\.\d{1,3}){3}$/.test(invocation.host)) {
      fetched = await apiServers(base);
      target = findTarget(live, fetched, invocation.host);
    }
  } catch (error) {
    exit(fail(255, `fake-ssh: cannot resolve ${invocation.host} through the Hetzner fake: ${error instanceof Error ? error.message : String(error)}`));
  }

  const hostId = target === undefined ? undefined : String(target.id);
  const bootOf = (state: FakeSshState, name: string) => ({
    bootCalls: state.boot.hosts[name]?.bootCalls ?? state.boot.bootCalls,
    cloudInitCalls: state.boot.hosts[name]?.cloudInitCalls ?? state.boot.cloudInitCalls,
  });
  // Wait for stdin only when the command will run: a refused connection answers at once, like ssh.
  const reachable = target !== undefined && target.status === "running" && invocation.port === 22;
  const previous = hostId === undefined ? undefined : snapshot.hosts[hostId];
  const expectRefused = !reachable || (!previous?.booted && (previous?.connections ?? 0) + 1 <= bootOf(snapshot, target!.name).bootCalls);
  const needsStdin = readsStdin(words);
  if (stdin !== null && needsStdin && !expectRefused) await stdin.ended;
  else await new Promise((resolve) => setImmediate(resolve));
  const stdinData = stdin === null ? null : Buffer.concat(stdin.chunks);
  const stdinComplete = stdin === null || stdin.done;
  const stdinSha256 =
    redacts(words) && stdinData !== null && stdinData.length > 0 ? (await import("node:crypto")).createHash("sha256").update(stdinData).digest("hex") : null;

  let result: Result;
  try {
    result = updateFakeSshState(statePath, (state) => {
      // Address cache: keep live servers only, add what the API said.
      const cache: Record<string, CachedServer> = {};
      for (const [id, server] of Object.entries({ ...state.servers, ...fetched })) if (live.has(Number(id))) cache[id] = server;
      state.servers = cache;

      const record: FakeSshRecord = {
        at: Date.now(),
        host: invocation.host,
        hostname: target?.name ?? null,
        user: invocation.user,
        options: invocation.options,
        argv: process.argv.slice(2),
        environment: Object.keys(process.env).sort(),
        command,
        stdin: null,
        exitCode: 0,
      };
      if (stdinData !== null && stdinData.length > 0) {
        record.stdin = redacts(words) ? `<redacted ${stdinData.length} bytes>` : stdinData.subarray(0, STDIN_RECORD_CAP).toString("utf8");
      }
      const answer = (res: Result): Result => {
        record.exitCode = res.exitCode;
        state.records.push(record);
        return res;
      };

      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(invocation.host)) {
        return answer(fail(255, `ssh: Could not resolve hostname ${invocation.host}: Name or service not known`));
      }
      if (target === undefined || target.status !== "running" || invocation.port !== 22) return answer(refused(invocation.host, invocation.port));
      const cached = cache[target.id]!;
      const host: FakeSshHost = (state.hosts[target.id] ??= {
        serverId: target.id,
        ip: invocation.host,
        hostname: target.name,
        privateIp: cached.privateIp,
        connections: 0,
        booted: false,
        commands: 0,
        cloudInitDone: false,
        localNodeState: "inactive",
        nodeId: null,
        swarmId: null,
        hostKey: newHostKey(),
      });
      Object.assign(host, { ip: invocation.host, hostname: target.name, privateIp: cached.privateIp });
      const boot = bootOf(state, target.name);
      host.connections++;
      if (!host.booted) {
        // sshd not up yet; also when this call skipped its stdin expecting that.
        if (host.connections <= boot.bootCalls || (needsStdin && !stdinComplete)) return answer(refused(invocation.host, invocation.port));
        host.booted = true;
      }
      if (invocation.user !== "root") return answer(fail(255, `${invocation.user}@${invocation.host}: Permission denied (publickey).`));
      host.commands++;
      const cloudInitPending = !host.cloudInitDone && host.commands <= boot.cloudInitCalls;
      if (!cloudInitPending) host.cloudInitDone = true;

      const fault = state.faults.find((candidate) => {
        if (candidate.hostname !== undefined && candidate.hostname !== target!.name) return false;
        try {
          return new RegExp(candidate.match).test(command);
        } catch {
          return false;
        }
      });
      if (fault !== undefined) {
        fault.count = (fault.count ?? 1) - 1;
        if (fault.count <= 0) state.faults.splice(state.faults.indexOf(fault), 1);
        record.fault = true;
        const stderr = fault.stderr ?? (fault.exitCode === 255 ? `Connection to ${invocation.host} closed by remote host.\n` : "");
        return answer({ exitCode: fault.exitCode, stdout: fault.stdout ?? "", stderr });
      }

      const unsupported = (reason?: string) =>
        answer(fail(127, `fake-ssh: unsupported command: ${command}${reason === undefined ? "" : `\nfake-ssh: (${reason})`}`));
      if (words === null) return unsupported("only simple commands: no pipes, lists, substitutions or variables");
      const ctx: Context = { state, host, live, command, words, stdin: stdinData, stdinSha256, cloudInitPending };
      try {
        return answer(runCommand(ctx));
      } catch (error) {
        if (error instanceof Unsupported) return unsupported(error.message);
        throw error;
      }
    });
  } catch (error) {
    result = fail(255, `fake-ssh: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  exit({ ...result, stderr: warnings + result.stderr });
}

await main();
