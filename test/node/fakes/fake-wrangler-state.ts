// The state file of the fake wrangler (test/node/fakes/fake-wrangler, fake-wrangler.ts): the
// account's queues, D1 databases (with the migrations applied to each), KV namespaces and Workers
// (versions and deployments), every call recorded, and faults to arm. The program and the tests
// share this module, so it holds only erasable TypeScript and Node built-ins (Node runs it with
// type stripping). One CLI run calls wrangler one command at a time and every test has a state
// file of its own, so a plain read-modify-write is enough (no lock).
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the wrapper script: the program the CLI runs instead of wrangler (WRANGLER). */
export const FAKE_WRANGLER_PROGRAM = fileURLToPath(new URL("./fake-wrangler", import.meta.url));

export const FAKE_CLOUDFLARE_ACCOUNT_ID = "0123456789abcdef0123456789abcdef";
export const FAKE_WRANGLER_API_TOKEN = "fake-wrangler-api-token-Zq81vX";

/** One invocation, in call order. */
export type FakeWranglerCall = {
  at: number;
  /** The arguments as given (the program name excluded). */
  argv: string[];
  exitCode: number;
  /** Whether CLOUDFLARE_API_TOKEN / CLOUDFLARE_ACCOUNT_ID were in the environment (never their values). */
  tokenInEnvironment: boolean;
  accountInEnvironment: boolean;
  /** Whether stdin was a terminal (wrangler prompts only then). */
  stdinIsTerminal: boolean;
  fault?: true;
};

/** The Queues API's list object, as `wrangler queues list` tabulates it. */
export type FakeQueue = {
  queue_id: string;
  queue_name: string;
  created_on: string;
  modified_on: string;
  producers_total_count: number;
  consumers_total_count: number;
};

/** The D1 API's database object, as `wrangler d1 list --json` prints it. */
export type FakeDatabase = {
  uuid: string;
  name: string;
  created_at: string;
  version: "production";
  num_tables: number;
  file_size: number;
  jurisdiction: null;
};

export type FakeNamespace = { id: string; title: string; supports_url_encoding: boolean };

export type FakeBinding = { type: "d1"; id: string } | { type: "kv_namespace"; namespace_id: string } | { type: "queue"; queue_name: string };

export type FakeVersion = { id: string; created_on: string; bindings: Record<string, FakeBinding> };

/** The Workers API's deployment object, as `wrangler deployments status --json` prints it. */
export type FakeDeployment = {
  id: string;
  source: "wrangler";
  strategy: "percentage";
  author_email: string;
  created_on: string;
  annotations: Record<string, string>;
  versions: { version_id: string; percentage: number }[];
};

export type FakeWorker = { versions: FakeVersion[]; deployments: FakeDeployment[] };

export type FakeWranglerFault = {
  /** A regular expression (source text) tested against the arguments joined with spaces. */
  match: string;
  exitCode: number;
  stdout?: string;
  stderr?: string;
  /** How many matching calls it answers; default 1. */
  count?: number;
};

export type FakeWranglerState = {
  accountId: string;
  /** The token the "API" accepts. */
  token: string;
  /** The account's workers.dev subdomain. */
  subdomain: string;
  /** Queues per `wrangler queues list` page (the API's page). */
  queuesPerPage: number;
  calls: FakeWranglerCall[];
  queues: FakeQueue[];
  databases: FakeDatabase[];
  namespaces: FakeNamespace[];
  /** Migration file names applied, per database uuid. */
  migrations: Record<string, string[]>;
  workers: Record<string, FakeWorker>;
  faults: FakeWranglerFault[];
  /** Source of the fake's ids. */
  counter: number;
};

export function emptyFakeWranglerState(): FakeWranglerState {
  return {
    accountId: FAKE_CLOUDFLARE_ACCOUNT_ID,
    token: FAKE_WRANGLER_API_TOKEN,
    subdomain: "fake-subdomain",
    queuesPerPage: 100,
    calls: [],
    queues: [],
    databases: [],
    namespaces: [],
    migrations: {},
    workers: {},
    faults: [],
    counter: 0,
  };
}

export function readFakeWranglerState(path: string): FakeWranglerState {
  return JSON.parse(readFileSync(path, "utf8")) as FakeWranglerState;
}

export function writeFakeWranglerState(path: string, state: FakeWranglerState): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, path);
}

export function updateFakeWranglerState<T>(path: string, change: (state: FakeWranglerState) => T): T {
  const state = readFakeWranglerState(path);
  const result = change(state);
  writeFakeWranglerState(path, state);
  return result;
}

export type FakeWranglerHandle = {
  path: string;
  /** What the CLI's environment needs: the program, the state file, this Node, the credentials. */
  env: Record<string, string>;
  read(): FakeWranglerState;
  update<T>(change: (state: FakeWranglerState) => T): T;
  /** Calls recorded since the handle was made (or since `index`). */
  calls(from?: number): FakeWranglerCall[];
};

/** A fresh state file in a temporary folder, `seed` applied to the empty account. */
export function createFakeWranglerState(seed?: (state: FakeWranglerState) => void): FakeWranglerHandle {
  const folder = mkdtempSync(join(tmpdir(), "fake-wrangler-"));
  const path = join(folder, "state.json");
  const state = emptyFakeWranglerState();
  seed?.(state);
  writeFakeWranglerState(path, state);
  return {
    path,
    env: {
      WRANGLER: FAKE_WRANGLER_PROGRAM,
      FAKE_WRANGLER_STATE: path,
      FAKE_WRANGLER_NODE: process.execPath,
      CLOUDFLARE_API_TOKEN: state.token,
      CLOUDFLARE_ACCOUNT_ID: state.accountId,
    },
    read: () => readFakeWranglerState(path),
    update: (change) => updateFakeWranglerState(path, change),
    calls: (from = 0) => readFakeWranglerState(path).calls.slice(from),
  };
}
