// The state file of the fake SSH program (test/node/fakes/fake-ssh, fake-ssh.ts) and the helpers
// tests use to arm and read it. The program and the tests share this module, so it holds only
// erasable TypeScript and Node built-ins (Node runs it with type stripping, no build step).
//
// Every change goes through updateFakeSshState: a lock directory `<state>.lock` (mkdir is atomic;
// retried with backoff, taken over when older than 10 s), then read, modify, write to a temporary
// file and rename it over the state file. Readers without the lock therefore always see a whole
// file. Nobody holds the lock across network I/O or while waiting for stdin.
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the wrapper script: the program the CLI runs instead of `ssh` (INFRA_SSH). */
export const FAKE_SSH_PROGRAM = fileURLToPath(new URL("./fake-ssh", import.meta.url));

/** One invocation of the fake, in call order. */
export type FakeSshRecord = {
  /** Date.now() when the call was handled. */
  at: number;
  /** The destination host as given (the IP). */
  host: string;
  /** The Hetzner server name the IP resolved to, or null. */
  hostname: string | null;
  user: string;
  /** The option words before (and between) the destination, as given: ["-o", "BatchMode=yes", "-i", "/k"]. */
  options: string[];
  /** Every argument the program got, as given (what `ps` shows on the machine running the CLI). */
  argv: string[];
  /** Names (never values) of the environment variables the program got. */
  environment: string[];
  /** The remote command: the words after the destination joined with single spaces (as OpenSSH does). */
  command: string;
  /** What arrived on stdin (first 64 KiB), null for a TTY or no data; "<redacted N bytes>" for secrets. */
  stdin: string | null;
  exitCode: number;
  /** Present when an armed fault answered the call. */
  fault?: true;
};

export type FakeSshFault = {
  /** Only commands on this host (Hetzner server name). */
  hostname?: string;
  /** A regular expression (source text) tested against the command string. */
  match: string;
  exitCode: number;
  stderr?: string;
  stdout?: string;
  /** How many matching commands it answers; default 1. */
  count?: number;
};

export type FakeSshBoot = {
  /** Connections refused (exit 255) after the server first shows as running; default 1. */
  bootCalls?: number;
  /** Commands after that during which cloud-init still runs (docker: command not found); default 1. */
  cloudInitCalls?: number;
};

export type FakeSshHost = {
  serverId: number;
  ip: string;
  hostname: string;
  privateIp: string | null;
  /** Connections attempted while the server was running (refused ones included). */
  connections: number;
  /** sshd answered once: later connections are never refused for boot. */
  booted: boolean;
  /** Commands that reached the host. */
  commands: number;
  cloudInitDone: boolean;
  localNodeState: "inactive" | "active";
  nodeId: string | null;
  swarmId: string | null;
  /** `ssh-ed25519 <base64>`: what /etc/ssh/ssh_host_ed25519_key.pub holds (without its comment). */
  hostKey?: string;
};

export type SwarmNode = {
  id: string;
  hostname: string;
  serverId: number;
  addr: string;
  labels: Record<string, string>;
  role: "manager" | "worker";
  availability: "active" | "pause" | "drain";
  /** "down" when its server is gone or not running, or the node left. Refreshed on every call. */
  state: "ready" | "down";
  left: boolean;
  createdAt: string;
  updatedAt: string;
};

export type SwarmSecret = { id: string; labels: Record<string, string>; createdAt: string; dataSha256: string; size: number };

export type SwarmService = {
  id: string;
  /** Full name, `<stack>_<service>`. */
  name: string;
  image: string;
  mode: "replicated" | "global";
  /** Desired replicas (replicated mode). */
  replicas: number;
  /** Running tasks as of the deploy (for global: the ready nodes). `stack services` recomputes it. */
  running: number;
  ports: string;
  /** Docker names of the secrets and configs its spec references (what `docker secret rm` checks). */
  secrets?: string[];
  configs?: string[];
  /** Their File.Name (the secret's name under /run/secrets, the config's path), in the same order. */
  secretFiles?: string[];
  configFiles?: string[];
  createdAt: string;
  updatedAt: string;
};

export type SwarmStack = { file: string; createdAt: string; deployedAt: string; services: Record<string, SwarmService> };

export type SwarmCluster = {
  id: string;
  createdAt: string;
  /** Node id of the leader: the node that ran `swarm init`, until it becomes unreachable. */
  leader: string;
  managers: string[];
  tokens: { manager: string; worker: string };
  nodes: Record<string, SwarmNode>;
  secrets: Record<string, SwarmSecret>;
  /** `docker config create`: kept like secrets (absent in state files written before configs). */
  configs?: Record<string, SwarmSecret>;
  stacks: Record<string, SwarmStack>;
  defaultAddrPool: string[];
  dataPathAddr: string | null;
};

/** What the fake learned from the Hetzner API about a server's addresses (keyed by server id). */
export type CachedServer = { id: number; ip: string | null; privateIp: string | null; networks: number[] };

export type FakeSshState = {
  boot: { bootCalls: number; cloudInitCalls: number; hosts: Record<string, FakeSshBoot> };
  faults: FakeSshFault[];
  /** `"<stack>_<service>": "1/3"` overrides the Replicas column of `docker stack services`. */
  serviceHealth: Record<string, string>;
  servers: Record<string, CachedServer>;
  /** Per Hetzner server id: a re-created server (new id) is a fresh host. */
  hosts: Record<string, FakeSshHost>;
  swarms: Record<string, SwarmCluster>;
  records: FakeSshRecord[];
};

export function emptyFakeSshState(): FakeSshState {
  return { boot: { bootCalls: 1, cloudInitCalls: 1, hosts: {} }, faults: [], serviceHealth: {}, servers: {}, hosts: {}, swarms: {}, records: [] };
}

/** The state as last written (a missing file is the empty state). Needs no lock. */
export function readFakeSshState(statePath: string): FakeSshState {
  let text: string;
  try {
    text = readFileSync(statePath, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return emptyFakeSshState();
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<FakeSshState>;
  const empty = emptyFakeSshState();
  return {
    boot: { ...empty.boot, ...parsed.boot },
    faults: parsed.faults ?? [],
    serviceHealth: parsed.serviceHealth ?? {},
    servers: parsed.servers ?? {},
    hosts: parsed.hosts ?? {},
    swarms: parsed.swarms ?? {},
    records: parsed.records ?? [],
  };
}

const LOCK_STALE_MS = 10_000;
const LOCK_GIVE_UP_MS = 30_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Runs `fn` holding `<statePath>.lock`. Synchronous: the critical section is file I/O only. */
export function withFakeSshLock<T>(statePath: string, fn: () => T): T {
  const lock = `${statePath}.lock`;
  const started = Date.now();
  let delay = 1;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    try {
      if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) {
        rmdirSync(lock); // a holder that died; take over
        continue;
      }
    } catch {
      continue; // released meanwhile
    }
    if (Date.now() - started > LOCK_GIVE_UP_MS) throw new Error(`fake-ssh: timed out waiting for the lock ${lock}`);
    sleepSync(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 25);
  }
  try {
    return fn();
  } finally {
    try {
      rmdirSync(lock);
    } catch {
      // taken over as stale; nothing to release
    }
  }
}

export function writeFakeSshState(statePath: string, state: FakeSshState): void {
  const temporary = `${statePath}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, JSON.stringify(state));
  renameSync(temporary, statePath);
}

/** Atomic read-modify-write: `fn` mutates the state it is given; its result is returned. */
export function updateFakeSshState<T>(statePath: string, fn: (state: FakeSshState) => T): T {
  return withFakeSshLock(statePath, () => {
    const state = readFakeSshState(statePath);
    const result = fn(state);
    writeFakeSshState(statePath, state);
    return result;
  });
}

export type FakeSshCommandFilter = {
  /** Server name. */
  hostname?: string;
  /** Destination IP. */
  host?: string;
  /** Tested against the command string (a string is a regular expression source). */
  match?: RegExp | string;
  exitCode?: number;
};

export type FakeSshStateHandle = {
  dir: string;
  statePath: string;
  /**
   * Environment for the CLI (or a direct spawn): FAKE_SSH_STATE, FAKE_SSH_NODE (this Node, which
   * strips TypeScript), INFRA_SSH (the wrapper) and, when given to createFakeSshState,
   * FAKE_HETZNER_URL.
   */
  env: Record<string, string>;
  read(): FakeSshState;
  update<T>(fn: (state: FakeSshState) => T): T;
  armFault(fault: FakeSshFault): void;
  /** Without hostname: the defaults for every host; with it: that server name only. */
  setBoot(boot: FakeSshBoot & { hostname?: string }): void;
  /** `setServiceHealth("core_app", "1/3")`; null removes the override. */
  setServiceHealth(service: string, replicas: string | null): void;
  commands(filter?: FakeSshCommandFilter | RegExp): FakeSshRecord[];
  /** The host by server name or IP (the newest server when a name was reused). */
  host(hostnameOrIp: string): FakeSshHost | undefined;
  /** The swarm (the first one, if several were initialised). */
  swarm(): SwarmCluster | undefined;
  reset(): void;
};

function nonNegativeInteger(value: number | undefined, name: string): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0)) throw new Error(`${name} must be a non-negative integer`);
}

/** A fresh state file in `dir` (default: a new temporary directory) and the helpers to drive it. */
export function createFakeSshState(dir?: string, options: { hetznerUrl?: string } = {}): FakeSshStateHandle {
  const directory = resolve(dir ?? mkdtempSync(join(tmpdir(), "fake-ssh-")));
  const statePath = join(directory, "fake-ssh-state.json");
  writeFakeSshState(statePath, emptyFakeSshState());
  const env: Record<string, string> = { FAKE_SSH_STATE: statePath, FAKE_SSH_NODE: process.execPath, INFRA_SSH: FAKE_SSH_PROGRAM };
  if (options.hetznerUrl !== undefined) env.FAKE_HETZNER_URL = options.hetznerUrl;
  const read = () => readFakeSshState(statePath);
  const update = <T>(fn: (state: FakeSshState) => T): T => updateFakeSshState(statePath, fn);
  return {
    dir: directory,
    statePath,
    env,
    read,
    update,
    armFault(fault) {
      new RegExp(fault.match); // a bad pattern fails here, not in the program
      nonNegativeInteger(fault.count, "count");
      update((state) => {
        state.faults.push({ ...fault, count: fault.count ?? 1 });
      });
    },
    setBoot({ hostname, bootCalls, cloudInitCalls }) {
      nonNegativeInteger(bootCalls, "bootCalls");
      nonNegativeInteger(cloudInitCalls, "cloudInitCalls");
      update((state) => {
        if (hostname === undefined) {
          if (bootCalls !== undefined) state.boot.bootCalls = bootCalls;
          if (cloudInitCalls !== undefined) state.boot.cloudInitCalls = cloudInitCalls;
        } else {
          const current = state.boot.hosts[hostname] ?? {};
          if (bootCalls !== undefined) current.bootCalls = bootCalls;
          if (cloudInitCalls !== undefined) current.cloudInitCalls = cloudInitCalls;
          state.boot.hosts[hostname] = current;
        }
      });
    },
    setServiceHealth(service, replicas) {
      update((state) => {
        if (replicas === null) delete state.serviceHealth[service];
        else state.serviceHealth[service] = replicas;
      });
    },
    commands(filter) {
      const f: FakeSshCommandFilter = filter instanceof RegExp ? { match: filter } : (filter ?? {});
      const pattern = f.match === undefined ? null : typeof f.match === "string" ? new RegExp(f.match) : f.match;
      return read().records.filter(
        (record) =>
          (f.hostname === undefined || record.hostname === f.hostname) &&
          (f.host === undefined || record.host === f.host) &&
          (f.exitCode === undefined || record.exitCode === f.exitCode) &&
          (pattern === null || pattern.test(record.command)),
      );
    },
    host(hostnameOrIp) {
      const hosts = Object.values(read().hosts).filter((host) => host.hostname === hostnameOrIp || host.ip === hostnameOrIp);
      return hosts.sort((a, b) => b.serverId - a.serverId)[0];
    },
    swarm() {
      return Object.values(read().swarms)[0];
    },
    reset() {
      update((state) => {
        Object.assign(state, emptyFakeSshState());
      });
    },
  };
}
