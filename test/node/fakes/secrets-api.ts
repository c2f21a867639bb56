// A fake of the Worker's secrets sync API (the shared contract's sync endpoints) on 127.0.0.1:
// GET /api/secrets/:env/manifest, PUT and DELETE /api/secrets/:env/:app, behind
// `Authorization: Bearer <sync token>`. Values stay in memory in plain text (a fake); the manifest
// carries HMAC-SHA256(envKey, NAME + "\0" + value) per key like the Worker. Tests reach its state
// in-process (seed, values, version) and inject faults (a 5xx, a concurrent sync before a PUT).
// Like the Worker (workers/secrets/routes.ts), a PUT body beyond 1 MiB is refused with 413.
import { createHmac, randomBytes } from "node:crypto";
import { z } from "zod";
import { startFake, type FakeRequest, type FakeResponse, type RunningFake } from "./http-fake.ts";

export const FAKE_SECRETS_SYNC_TOKEN = "fake-secrets-sync-token";

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const MAX_KEYS = 200;
const MAX_VALUE_BYTES = 32 * 1024;
const MAX_SET_BODY_BYTES = 1024 * 1024;

type App = { version: number; values: Map<string, string> };
type Env = { hmacKey: Buffer; apps: Map<string, App> };

export type LoggedRequest = { method: string; path: string; body: unknown };
/** A canned answer for the next request that matches (consumed once). */
export type Fault = { method?: string; path?: string | RegExp; status: number; body?: unknown };

export type FakeSecretsApi = RunningFake & {
  token: string;
  requests: LoggedRequest[];
  faults: Fault[];
  /** Runs before a PUT is handled (e.g. a concurrent sync that bumps the version). */
  beforePut: ((env: string, app: string) => void) | null;
  /** Stores a new version of the app as a sync would; returns it. */
  seed(env: string, app: string, values: Record<string, string>): number;
  remove(env: string, app: string): number;
  values(env: string, app: string): Record<string, string> | undefined;
  version(env: string, app: string): number;
  hmacKey(env: string): Buffer;
  hmac(env: string, name: string, value: string): string;
};

const putBody = z.object({ baseVersion: z.number().int().nonnegative(), values: z.record(z.string(), z.string()) }).strict();

export async function startFakeSecretsApi(options: { token?: string } = {}, port = 0): Promise<FakeSecretsApi> {
  const token = options.token ?? FAKE_SECRETS_SYNC_TOKEN;
  const envs = new Map<string, Env>();
  const requests: LoggedRequest[] = [];
  const faults: Fault[] = [];

  const environment = (env: string): Env => {
    let found = envs.get(env);
    if (!found) {
      found = { hmacKey: randomBytes(32), apps: new Map() };
      envs.set(env, found);
    }
    return found;
  };
  const hmac = (env: string, name: string, value: string) => createHmac("sha256", environment(env).hmacKey).update(`${name}\0${value}`, "utf8").digest("hex");
  const store = (env: string, app: string, values: Map<string, string>): number => {
    const apps = environment(env).apps;
    const version = (apps.get(app)?.version ?? 0) + 1;
    apps.set(app, { version, values: new Map(values) });
    return version;
  };
  const sameSet = (env: string, a: Map<string, string>, b: Map<string, string>) =>
    a.size === b.size && [...a].every(([name, value]) => b.has(name) && hmac(env, name, b.get(name) as string) === hmac(env, name, value));

  const json = (status: number, body: unknown): FakeResponse => ({ status, body, headers: { "cache-control": "no-store" } });
  const error = (status: number, message: string, extra: Record<string, unknown> = {}) => json(status, { error: message, ...extra });

  function handle(request: FakeRequest): FakeResponse {
    const path = request.url.pathname;
    requests.push({ method: request.method, path, body: request.body });
    const faultIndex = faults.findIndex(
      (fault) => (fault.method === undefined || fault.method === request.method) && (fault.path === undefined || (typeof fault.path === "string" ? fault.path === path : fault.path.test(path))),
    );
    if (faultIndex >= 0) {
      const [fault] = faults.splice(faultIndex, 1) as [Fault];
      return json(fault.status, fault.body ?? { error: "injected fault" });
    }
    const match = /^\/api\/secrets\/([^/]+)\/([^/]+)$/.exec(path);
    if (!match) return error(404, "not found");
    if (request.headers.authorization !== `Bearer ${token}`) return error(401, "unauthorized");
    const [, env, second] = match as unknown as [string, string, string];
    if (!SLUG.test(env)) return error(400, "invalid env");

    if (second === "manifest") {
      if (request.method !== "GET") return error(405, "method not allowed");
      const { hmacKey, apps } = environment(env);
      const listed: Record<string, { version: number; keys: Record<string, string> }> = {};
      for (const [app, { version, values }] of apps) {
        listed[app] = { version, keys: Object.fromEntries([...values].map(([name, value]) => [name, hmac(env, name, value)])) };
      }
      return json(200, { env, hmacKey: hmacKey.toString("base64"), apps: listed });
    }

    const app = second;
    if (!SLUG.test(app)) return error(400, "invalid app");
    if (request.method === "PUT") {
      if (Number(request.headers["content-length"] ?? 0) > MAX_SET_BODY_BYTES) return error(413, `body exceeds ${MAX_SET_BODY_BYTES} bytes`);
      const parsed = putBody.safeParse(request.body);
      if (!parsed.success) return error(400, "invalid body: expected {baseVersion, values}");
      const values = new Map(Object.entries(parsed.data.values));
      if (values.size > MAX_KEYS) return error(400, `at most ${MAX_KEYS} names per app`);
      for (const [name, value] of values) {
        if (!NAME.test(name)) return error(400, `invalid name ${name}`);
        if (Buffer.byteLength(value, "utf8") > MAX_VALUE_BYTES) return error(400, `the value of ${name} is larger than 32 KiB`);
      }
      beforePutHook.current?.(env, app);
      const current = environment(env).apps.get(app);
      const currentVersion = current?.version ?? 0;
      if (parsed.data.baseVersion !== currentVersion) return error(409, `baseVersion ${parsed.data.baseVersion} is not the current version`, { currentVersion });
      if (current && sameSet(env, current.values, values)) return json(200, { env, app, version: currentVersion, changed: false });
      return json(200, { env, app, version: store(env, app, values), changed: true });
    }
    if (request.method === "DELETE") {
      if (!environment(env).apps.has(app)) return error(404, "unknown app");
      return json(200, { env, app, version: store(env, app, new Map()) });
    }
    return error(405, "method not allowed");
  }

  const beforePutHook: { current: ((env: string, app: string) => void) | null } = { current: null };
  const running = await startFake(handle, port);
  return {
    ...running,
    token,
    requests,
    faults,
    get beforePut() {
      return beforePutHook.current;
    },
    set beforePut(hook) {
      beforePutHook.current = hook;
    },
    seed: (env, app, values) => store(env, app, new Map(Object.entries(values))),
    remove: (env, app) => store(env, app, new Map()),
    values: (env, app) => {
      const found = envs.get(env)?.apps.get(app);
      return found ? Object.fromEntries(found.values) : undefined;
    },
    version: (env, app) => envs.get(env)?.apps.get(app)?.version ?? 0,
    hmacKey: (env) => environment(env).hmacKey,
    hmac,
  };
}
