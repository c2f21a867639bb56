// What every benchmark needs around `wrangler dev`: child processes in their own process group
// (so wrangler, its launcher and workerd stop together), a temporary local state folder, a
// watchdog, clean-up on every way out, free ports, migrations and a health wait.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { devNull, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");

/** How a child process ended: its exit code or signal, or the error that kept it from starting. */
export type Exit = { code: number | null; signal: NodeJS.Signals | null; error?: Error };

/** A wrangler child process, with the last lines of its output and a promise of its exit. */
export type WranglerProcess = ChildProcessByStdio<null, Readable, Readable> & {
  tail: () => string;
  exited: Promise<Exit>;
};

/** What is read from a caught error: a Node system error's code, or the one fetch wraps as cause. */
export type CaughtError = Error & { code?: string; cause?: { code?: string; message?: string } };

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (error) {
    return (error as CaughtError).code === "EPERM";
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

export type WranglerRun = ReturnType<typeof createWranglerRun>;

/**
 * One benchmark run: a fresh local state folder, and the wrangler processes it starts. Stops
 * everything (and removes the folder) on exit, on a signal, or after `timeoutMs`.
 */
export function createWranglerRun(options: { name: string; timeoutMs: number }) {
  const abort = new AbortController();
  const children = new Set<WranglerProcess>();
  const persistDir = mkdtempSync(join(tmpdir(), `edge-ops-${options.name}-`));

  /** Runs wrangler in its own process group (so the group can be killed), keeping an output tail. */
  function startWrangler(args: string[], extraEnv: Record<string, string> = {}): WranglerProcess {
    const child = spawn(process.execPath, [wrangler, ...args], {
      cwd: root,
      env: { CLOUDFLARE_CF_FETCH_ENABLED: "false", ...process.env, WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0", NO_COLOR: "1", ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const lines: string[] = [];
    const keep = (chunk: Buffer) => {
      lines.push(...chunk.toString().replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter((line) => line.trim()));
      if (lines.length > 25) lines.splice(0, lines.length - 25);
      const trace = process.env.BENCH_TRACE;
      if (trace) for (const line of chunk.toString().split("\n")) if (line.includes(trace)) console.error(line);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const wranglerProcess = Object.assign(child, {
      tail: () => lines.join("\n"),
      exited: new Promise<Exit>((resolve) => {
        child.on("exit", (code, signal) => resolve({ code, signal }));
        child.on("error", (error) => resolve({ code: null, signal: null, error }));
      }),
    });
    children.add(wranglerProcess);
    return wranglerProcess;
  }

  /** SIGTERM to the whole group (wrangler's launcher, wrangler, workerd), SIGKILL after 5 s. */
  async function stopGroup(child: WranglerProcess): Promise<void> {
    if (!child.pid) return;
    signalGroup(child.pid, "SIGTERM");
    for (const [signal, waitMs] of [["SIGKILL", 5000], [null, 2000]] as const) {
      const until = Date.now() + waitMs;
      while (groupAlive(child.pid) && Date.now() < until) await sleep(50);
      if (!groupAlive(child.pid)) break;
      if (signal) signalGroup(child.pid, signal);
    }
    if (groupAlive(child.pid)) console.error(`bench: process group ${child.pid} is still alive`);
    children.delete(child);
  }

  let cleaning: Promise<void> | undefined;
  function cleanup(): Promise<void> {
    cleaning ??= (async () => {
      abort.abort();
      await Promise.all([...children].map(stopGroup));
      rmSync(persistDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    })();
    return cleaning;
  }

  // Last resort when the process exits some other way (uncaught error, process.exit elsewhere).
  process.on("exit", () => {
    for (const child of children) if (child.pid) signalGroup(child.pid, "SIGKILL");
    rmSync(persistDir, { recursive: true, force: true });
  });

  let exitCode: number | undefined;
  async function exitAfterCleanup(code: number): Promise<never> {
    exitCode ??= code; // the first reason to stop (timeout, signal, result) decides the status
    await cleanup().catch((error: unknown) => console.error(`bench: cleanup: ${(error as Error).message}`));
    process.exit(exitCode);
  }

  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    process.on(signal, () => {
      console.error(`bench: ${signal}, stopping`);
      void exitAfterCleanup(code);
    });
  }

  const watchdog = setTimeout(() => {
    console.error(`bench: aborted, the run exceeded TIMEOUT=${options.timeoutMs / 1000} s`);
    for (const child of children) console.error(`wrangler output (tail):\n${child.tail()}`);
    void exitAfterCleanup(124);
  }, options.timeoutMs);

  async function applyMigrations(): Promise<void> {
    // CI=true (and a closed stdin): wrangler takes "yes" instead of prompting before applying.
    const child = startWrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir], { CI: "true" });
    const { code, signal, error } = await child.exited;
    children.delete(child);
    if (code !== 0) {
      throw new Error(`migrations failed (${error?.message ?? (signal ? `signal ${signal}` : `exit ${code}`)}):\n${child.tail()}`);
    }
  }

  async function startWranglerDev(port: number, extraArgs: string[]): Promise<{ dev: WranglerProcess; exited: () => Exit | null }> {
    const dev = startWrangler([
      "dev",
      "--ip", "127.0.0.1",
      "--port", String(port),
      // Two wrangler dev instances may run side by side: each needs its own inspector port.
      "--inspector-port", String(await freePort()),
      "--show-interactive-dev-session=false",
      "--log-level", process.env.BENCH_LOG_LEVEL ?? "warn", // no per-request lines; warnings and errors stay in the tail
      // Only the variables the caller passes: given an env file (an empty one), wrangler does not
      // read the developer's .dev.vars.
      "--env-file", devNull,
      ...extraArgs,
    ]);
    let exited: Exit | null = null;
    void dev.exited.then((result) => (exited = result));
    return { dev, exited: () => exited };
  }

  async function waitForHealth(base: string, path: string, dev: WranglerProcess, exitedOf: () => Exit | null): Promise<void> {
    const until = Date.now() + 120_000;
    let last = "no answer";
    for (;;) {
      const exited = exitedOf();
      if (exited) throw new Error(`wrangler dev exited (${exited.error?.message ?? `code ${exited.code}, signal ${exited.signal}`}):\n${dev.tail()}`);
      if (Date.now() > until) throw new Error(`${path} did not answer 200 within 120 s (last: ${last}):\n${dev.tail()}`);
      try {
        const response = await fetch(`${base}${path}`, {
          method: path === "/" ? "POST" : "GET",
          body: path === "/" ? "{}" : undefined,
          signal: AbortSignal.any([abort.signal, AbortSignal.timeout(5000)]),
        });
        last = `${response.status} ${await response.text()}`;
        if (response.status === 200) return;
      } catch (error) {
        if (abort.signal.aborted) throw error;
        last = (error as CaughtError).cause?.code ?? (error as CaughtError).name;
      }
      await sleep(200);
    }
  }

  /** Runs the benchmark's `main` and exits with its status (1 on an error), after clean-up. */
  function finish(main: () => Promise<number>): Promise<never> {
    return main()
      .then((code) => exitAfterCleanup(code))
      .catch((error: unknown) => {
        if (!abort.signal.aborted) console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
        return exitAfterCleanup(1);
      });
  }

  // `cleanup` for a caller that must not exit (a test file, which clears the watchdog too).
  return { abort, persistDir, watchdog, startWranglerDev, waitForHealth, applyMigrations, cleanup, exitAfterCleanup, finish };
}

/**
 * A `wrangler dev` of its own for a test: migrated local storage in a fresh folder, only these
 * variables, resolved once /healthz answers; `stop` ends it and removes the folder. The test's
 * own timeouts bound it (the run's watchdog would exit the test worker).
 */
export async function startLocalWorker(name: string, vars: Record<string, string>): Promise<{ base: string; stop(): Promise<void> }> {
  const run = createWranglerRun({ name, timeoutMs: 600_000 });
  clearTimeout(run.watchdog);
  try {
    await run.applyMigrations();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const { dev, exited } = await run.startWranglerDev(port, ["--persist-to", run.persistDir, ...Object.entries(vars).flatMap(([key, value]) => ["--var", `${key}:${value}`])]);
    await run.waitForHealth(base, "/healthz", dev, exited);
    return { base, stop: run.cleanup };
  } catch (error) {
    await run.cleanup();
    throw error;
  }
}
