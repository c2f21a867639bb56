// The backup server's user data: plain cloud-config that carries only the run's URL, its token
// (valid for this run only, until it ends) and the deadline, and starts the runner the image
// ships (infra/backup-runner/). No other credential: the runner fetches its configuration with
// the token, and the scheduler, not the server, deletes the server.
export function backupUserData(run: { url: string; token: string; deadline: number }): string {
  const deadlineSeconds = Math.floor(run.deadline / 1000);
  return [
    "#cloud-config",
    "write_files:",
    "  - path: /etc/edge-ops-backup.env",
    '    permissions: "0600"',
    "    owner: root:root",
    "    content: |",
    `      RUN_URL=${run.url}`,
    `      RUN_TOKEN=${run.token}`,
    `      DEADLINE=${deadlineSeconds}`,
    "runcmd:",
    "  - [/opt/edge-ops/backup-runner.sh]",
    "",
  ].join("\n");
}

/** A URL-safe token: 32 random bytes, base64url. */
export function runToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
