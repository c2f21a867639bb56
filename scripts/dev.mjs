// `npm run dev`: local development on embedded defaults, no account and no network.
// 1. .dev.vars from .dev.vars.example when missing, 2. local D1 migrations, 3. wrangler dev.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules", ".bin", "wrangler");
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };

if (!existsSync(join(root, ".dev.vars"))) {
  copyFileSync(join(root, ".dev.vars.example"), join(root, ".dev.vars"));
  console.log("dev: created .dev.vars from .dev.vars.example (local-only values)");
}

// CI=true keeps wrangler from asking for confirmation before applying migrations.
const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local"], {
  cwd: root,
  stdio: "inherit",
  env: { ...env, CI: "true" },
});
if (migrate.status !== 0) {
  console.error("dev: applying local D1 migrations failed");
  process.exit(migrate.status ?? 1);
}

const dev = spawn(wrangler, ["dev", ...process.argv.slice(2)], { cwd: root, stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
