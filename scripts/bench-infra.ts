// `npm run bench:infra`: the infra CLI's Hetzner budget. Runs plan, a fresh apply, a no-op apply,
// deploy, status and destroy of the shipped `example` environment (three nodes, its three stacks)
// against the Hetzner fake (actions take ACTION_MS, as long-running ones do at Hetzner) and the
// fake SSH program, and prints per command the Hetzner requests (reads and writes), the remote
// commands and the wall time. Targets: a no-op apply makes reads only, and few. (The certificate
// deploy checks is a self-signed one made by openssl.)
//
//   npm run bench:infra                     ACTION_MS=500
//   npm run bench:infra -- --action-ms 2000
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../infra/cli.ts";
import { createFakeSshState } from "../test/node/fakes/fake-ssh-state.ts";
import { FAKE_HCLOUD_TOKEN, startFakeHetzner } from "../test/node/fakes/hetzner.ts";
import { loadEnvironment } from "../infra/config.ts";
import { ed25519PublicKey, selfSignedCertificate } from "../test/node/support/infra.ts";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(`usage: npm run bench:infra [-- --action-ms MS]
  or ACTION_MS in the environment: how long each Hetzner action takes (default 500)`);
  process.exit(0);
}

const index = process.argv.indexOf("--action-ms");
const actionMs = Number(index >= 0 ? process.argv[index + 1] : (process.env.ACTION_MS ?? 500));
if (!Number.isInteger(actionMs) || actionMs < 0) {
  console.error("bench: --action-ms must be a non-negative integer");
  process.exit(1);
}

type Logged = { method: string; path: string; at: number };

async function bench(): Promise<number> {
  const hetzner = await startFakeHetzner({ actionMs });
  const ssh = createFakeSshState(undefined, { hetznerUrl: hetzner.url });
  const dir = mkdtempSync(join(tmpdir(), "bench-infra-"));
  const environments = join(dir, "environments");
  mkdirSync(environments);
  const name = `bench-${randomBytes(2).toString("hex")}`;
  writeFileSync(join(environments, `${name}.yaml`), readFileSync(join(import.meta.dirname, "..", "infra", "environments", "example.yaml")));
  writeFileSync(join(dir, "key.pub"), ed25519PublicKey("bench"));
  const origin = selfSignedCertificate(["*.example.com", "example.com"]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...ssh.env,
    HCLOUD_TOKEN: FAKE_HCLOUD_TOKEN,
    HCLOUD_ENDPOINT: `${hetzner.url}/v1`,
    INFRA_SSH_PUBLIC_KEY: join(dir, "key.pub"),
    INFRA_ENVIRONMENTS_DIR: environments,
    INFRA_POLL_MS: "1000",
    // Every docker secret the environment lists: random values, and a certificate Traefik would serve.
    ...Object.fromEntries(loadEnvironment(environments, name).secrets.map((secret) => [`INFRA_SECRET_${secret.toUpperCase()}`, randomBytes(12).toString("hex")])),
    INFRA_SECRET_TLS_CERTIFICATE: origin.certificate,
    INFRA_SECRET_TLS_PRIVATE_KEY: origin.privateKey,
  };
  const requests = async () => (await (await fetch(`${hetzner.url}/__fake/requests`)).json()) as Logged[];

  console.log(`bench:infra — ${cpus().length} CPUs, Node ${process.version}, Hetzner actions take ${actionMs} ms, polled every 1 s`);
  console.log("command            exit  Hetzner reads  writes  remote commands  wall");
  let failed = false;
  for (const argv of [["plan"], ["apply", "--yes"], ["apply", "--yes"], ["plan"], ["deploy"], ["status"], ["destroy", "--yes"]]) {
    const before = (await requests()).length;
    const sshBefore = ssh.commands().length;
    const started = performance.now();
    const lines: string[] = [];
    const code = await main([...argv, "--env", name], env, { out: (line) => lines.push(line), err: (line) => lines.push(line), interactive: false });
    const wall = (performance.now() - started) / 1000;
    const made = (await requests()).slice(before);
    const reads = made.filter((request) => request.method === "GET").length;
    console.log(`${argv.join(" ").padEnd(18)} ${String(code).padStart(4)}  ${String(reads).padStart(13)}  ${String(made.length - reads).padStart(6)}  ${String(ssh.commands().length - sshBefore).padStart(15)}  ${wall.toFixed(1)} s`);
    const expected = argv[0] === "plan" ? [0, 2] : [0];
    if (!expected.includes(code)) {
      failed = true;
      console.error(lines.join("\n"));
    }
  }
  await hetzner.close();
  return failed ? 1 : 0;
}

process.exitCode = await bench();
