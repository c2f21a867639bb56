// cloud-init for a Swarm node: Docker from Docker's Debian repository (Debian's docker.io is too old
// for `docker stack deploy --detach=false`), MTU 1450 on the private interface and in Docker (Hetzner
// private networks carry 1450-byte frames), the data volume mounted at /mnt/data whenever a
// Hetzner volume appears (at boot or when attached later), and the backup route's read-only SSH
// user (infra/backup-route.ts; `deploy` runs the same script again on every node). Hostname =
// server name (Hetzner sets it).
import { backupAccessScript } from "./backup-route.ts";
import type { Environment } from "./config.ts";
import { shellWord } from "./shell.ts";

export const PRIVATE_MTU = 1450;

export function nodeUserData(environment: Environment): string {
  const lines = [
    "#cloud-config",
    "package_update: true",
    // rsync ships rrsync (Debian 12), acl setfacl: both for the backup user.
    "packages: [ca-certificates, curl, gnupg, rsync, acl]",
    "write_files:",
    "  - path: /etc/docker/daemon.json",
    '    permissions: "0644"',
    "    content: |",
    `      {"mtu": ${PRIVATE_MTU}, "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}`,
    "  - path: /usr/local/sbin/edge-ops-private-mtu",
    '    permissions: "0755"',
    "    content: |",
    "      #!/bin/sh",
    `      # The interface holding an address of ${environment.network.ip_range} gets MTU ${PRIVATE_MTU}.`,
    `      prefix=$(echo ${shellWord(environment.network.ip_range)} | cut -d. -f1-2)`,
    `      for dev in $(ip -o -4 addr show | awk -v p="$prefix." 'index($4, p) == 1 {print $2}'); do ip link set dev "$dev" mtu ${PRIVATE_MTU}; done`,
    "  - path: /usr/local/sbin/edge-ops-mount-data",
    '    permissions: "0755"',
    "    content: |",
    "      #!/bin/sh",
    "      # Each node has exactly one Hetzner volume: mount it at /mnt/data.",
    "      mountpoint -q /mnt/data && exit 0",
    "      dev=$(ls /dev/disk/by-id/scsi-0HC_Volume_* 2>/dev/null | head -n 1)",
    '      [ -n "$dev" ] || exit 0',
    "      mkdir -p /mnt/data",
    '      mount -o discard,defaults "$dev" /mnt/data',
    "  - path: /etc/systemd/system/edge-ops-mount-data.service",
    "    content: |",
    "      [Unit]",
    "      Description=Mount the Hetzner data volume at /mnt/data",
    "      Before=docker.service",
    "      [Service]",
    "      Type=oneshot",
    "      ExecStart=/usr/local/sbin/edge-ops-mount-data",
    "      [Install]",
    "      WantedBy=multi-user.target",
    "  - path: /etc/udev/rules.d/99-edge-ops-data.rules",
    "    content: |",
    '      ACTION=="add", SUBSYSTEM=="block", ENV{ID_SERIAL}=="0HC_Volume_*", TAG+="systemd", ENV{SYSTEMD_WANTS}+="edge-ops-mount-data.service"',
    "  - path: /etc/systemd/system/edge-ops-private-mtu.service",
    "    content: |",
    "      [Unit]",
    `      Description=MTU ${PRIVATE_MTU} on the Hetzner private network`,
    "      After=network-online.target",
    "      Wants=network-online.target",
    "      [Service]",
    "      Type=oneshot",
    "      ExecStart=/usr/local/sbin/edge-ops-private-mtu",
    "      [Install]",
    "      WantedBy=multi-user.target",
    "  - path: /usr/local/sbin/edge-ops-backup-access",
    '    permissions: "0755"',
    "    content: |",
    ...backupAccessScript(environment)
      .trimEnd()
      .split("\n")
      .map((line) => `      ${line}`),
    "runcmd:",
    "  - [systemctl, daemon-reload]",
    "  - [systemctl, enable, --now, edge-ops-private-mtu.service, edge-ops-mount-data.service]",
    "  - [udevadm, control, --reload-rules]",
    "  - install -m 0755 -d /etc/apt/keyrings",
    "  - curl -fsSL https://download.docker.com/linux/debian/gpg -o /etc/apt/keyrings/docker.asc",
    '  - echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian $(. /etc/os-release && echo $VERSION_CODENAME) stable" > /etc/apt/sources.list.d/docker.list',
    "  - apt-get update",
    "  - DEBIAN_FRONTEND=noninteractive apt-get install -y docker-ce docker-ce-cli containerd.io",
    "  - [systemctl, enable, --now, docker]",
    "  - [/usr/local/sbin/edge-ops-backup-access]",
    "",
  ];
  return lines.join("\n");
}
