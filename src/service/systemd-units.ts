import { fileURLToPath } from 'node:url';

// systemd units for a node and a front (issue 28, item 7), as operators run HAProxy or nginx:
// started at boot after the network, reloaded with SIGHUP (a node takes a newer signed host table
// from its file, a front reloads its configuration), stopped with SIGTERM (a node drains, then
// stops its app instances), restarted whenever it exits otherwise (Restart=always, as HAProxy's
// unit does: systemd counts a death by a signal such as SIGHUP as clean, which on-failure would
// leave down), and sandboxed with systemd's usual options. Not MemoryDenyWriteExecute: V8's JIT
// writes the code it runs.

/** The `cohort` command of this install (bin/cohort: it runs on the Node.js Cohort was installed with). */
export const COHORT_BIN = fileURLToPath(new URL('../../bin/cohort', import.meta.url));

export interface UnitOptions {
  /** The host table (absolute). */
  config: string;
  cluster: string;
  /** Where nodes keep their files (absolute): the one folder they write. */
  dataDir: string;
  /** The account it runs as. */
  user: string;
  bin?: string;
}

/** One node's unit: cohort-node-<id>.service. */
export function nodeUnit(id: string, o: UnitOptions): string {
  return unit({
    description: `Cohort node ${id} (cluster ${o.cluster})`,
    exec: `${quote(o.bin ?? COHORT_BIN)} node --config ${quote(o.config)} --id ${id}`,
    o,
    // Its app instances are its children: stopping the node stops them (it waits for them to drain).
    extra: ['KillMode=mixed', 'TimeoutStopSec=60s'],
  });
}

/** The front's unit: cohort-front.service (it may bind ports below 1024: 80 and 443). */
export function frontUnit(o: UnitOptions): string {
  return unit({
    description: `Cohort front (cluster ${o.cluster})`,
    exec: `${quote(o.bin ?? COHORT_BIN)} front --config ${quote(o.config)}`,
    o,
    extra: ['TimeoutStopSec=30s', 'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE'],
  });
}

function unit(u: { description: string; exec: string; o: UnitOptions; extra: string[] }): string {
  return `# Written by \`cohort units\`. Install: copy to /etc/systemd/system, then systemctl daemon-reload && systemctl enable --now <unit>.
[Unit]
Description=${quote(u.description).replace(/^"|"$/g, '')}
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
ExecStart=${u.exec}
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2s
User=${u.o.user}
Group=${u.o.user}
Environment=COHORT_CONFIG=${quote(u.o.config)}
LimitNOFILE=65536
${u.extra.join('\n')}
# Sandboxing: it writes its data folder only.
NoNewPrivileges=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=${quote(u.o.dataDir)}
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
LockPersonality=yes
SystemCallArchitectures=native
UMask=0077

[Install]
WantedBy=multi-user.target
`;
}

/**
 * A value in a unit: % and $ escaped (systemd expands specifiers and variables), quoted when it
 * holds spaces, quotes or backslashes; a control character (a newline would start a directive of
 * its own) is refused.
 */
export function quote(s: string): string {
  if (/[\x00-\x1f\x7f]/.test(s)) throw new Error(`a control character in ${JSON.stringify(s)}: not written into a unit`);
  const escaped = s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s"\\]/.test(escaped) ? `"${escaped.replace(/["\\]/g, '\\$&')}"` : escaped;
}
