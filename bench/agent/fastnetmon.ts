// FastNetMon (Debian's 1.2.4 package) started by hand inside the victim
// namespace, never as the system service. One process per run: a banned host
// stays banned for ban_time and is not re-banned, so a fresh process is the
// reliable reset. Its start-up happens before the flood, outside the measure.
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Lab } from '../../test/lab/lab-network.js';
import { log, sleep, track } from './util.js';

export const FNM_THRESHOLD_PPS = 5000;

/** Installed? If not, apt-get it (Debian's package) and make sure the service is neither running nor enabled. */
export async function ensureFastnetmon(): Promise<{ ok: true; version: string } | { ok: false; why: string }> {
  const which = async () => (await execa('sh', ['-c', 'command -v fastnetmon'], { reject: false })).exitCode === 0;
  if (!(await which())) {
    if (process.env.BENCH_NO_INSTALL === '1') return { ok: false, why: 'fastnetmon is not installed and BENCH_NO_INSTALL=1' };
    log('installing the Debian package fastnetmon (apt-get install -y fastnetmon)');
    const r = await execa('apt-get', ['install', '-y', 'fastnetmon'], {
      reject: false,
      all: true,
      env: { DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.exitCode !== 0) return { ok: false, why: `apt-get install -y fastnetmon failed (exit ${r.exitCode}): ${String(r.all).split('\n').slice(-3).join(' | ')}` };
  }
  // The package enables (and, under systemd, starts) fastnetmon.service: the bench runs its own instance only.
  await execa('systemctl', ['stop', 'fastnetmon'], { reject: false });
  await execa('systemctl', ['disable', 'fastnetmon'], { reject: false });
  if (!(await which())) return { ok: false, why: 'fastnetmon binary not found after installation' };
  const v = await execa('dpkg-query', ['-W', '-f', '${Version}', 'fastnetmon'], { reject: false });
  return { ok: true, version: String(v.stdout) || 'unknown' };
}

export interface FnmSetup {
  dir: string;
  conf: string;
  notifyLog: string;
}

/**
 * Config, networks list (the victim's /32 only), empty whitelist, notify
 * script. `overrides` replace settings (bench:detection runs FastNetMon at
 * its shipped host thresholds); the notify script keeps the attack details
 * FastNetMon writes to its stdin in `<notifyLog>.details`.
 */
export function writeFnmConfig(dir: string, victimIp: string, dev: string, overrides: Record<string, string | number> = {}): FnmSetup {
  const networks = path.join(dir, 'networks_list');
  const whitelist = path.join(dir, 'networks_whitelist');
  const notify = path.join(dir, 'notify.sh');
  const notifyLog = path.join(dir, 'notify.log');
  const conf = path.join(dir, 'fastnetmon.conf');
  fs.writeFileSync(networks, `${victimIp}/32\n`);
  fs.writeFileSync(whitelist, '');
  // Time first (ms since the epoch, the clock Date.now() reads), then drain the details FastNetMon writes to stdin.
  fs.writeFileSync(notify, `#!/bin/sh\necho "$(date +%s%3N) $*" >> '${notifyLog}'\ncat >> '${notifyLog}.details'\n`, { mode: 0o755 });
  const settings: Record<string, string | number> = {
    logging_level: 'info',
    logging_local_syslog_logging: 'off',
    logging_remote_syslog_logging: 'off',
    disable_usage_report: 'on',
    enable_ban: 'on',
    enable_ban_ipv6: 'off',
    process_incoming_traffic: 'on',
    process_outgoing_traffic: 'on',
    ban_time: 1900,
    unban_only_if_attack_finished: 'on',
    networks_list_path: networks,
    white_list_path: whitelist,
    check_period: 1,
    enable_connection_tracking: 'on',
    ban_for_pps: 'on',
    ban_for_bandwidth: 'off',
    ban_for_flows: 'off',
    // Per-host incoming pps. Set to our per-source threshold (sourcePpsThreshold 5000): with one
    // attacker the victim's incoming pps is the attacker's pps, so both trip at the same rate.
    threshold_pps: FNM_THRESHOLD_PPS,
    threshold_mbps: 1000,
    threshold_flows: 3500,
    mirror_afpacket: 'on',
    mirror_afxdp: 'off',
    mirror_netmap: 'off',
    pcap: 'off',
    netflow: 'off',
    sflow: 'off',
    interfaces: dev,
    average_calculation_time: 1,
    speed_calculation_delay: 1,
    notify_script_path: notify,
    collect_attack_pcap_dumps: 'off',
    redis_enabled: 'off',
    mongodb_enabled: 'off',
    exabgp: 'off',
    gobgp: 'off',
    influxdb: 'off',
    graphite: 'off',
    monitor_local_ip_addresses: 'off',
    pid_path: path.join(dir, 'fastnetmon.pid'),
    cli_stats_file_path: path.join(dir, 'fastnetmon.dat'),
    cli_stats_ipv6_file_path: path.join(dir, 'fastnetmon_ipv6.dat'),
    enable_api: 'off',
    prometheus: 'off',
    ...overrides,
  };
  fs.writeFileSync(conf, Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
  return { dir, conf, notifyLog };
}

export interface FnmInstance {
  pid: number | undefined;
  logFile: string;
  /** SIGTERM (SIGINT aborts it), SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/** Start fastnetmon in the foreground inside `ns`; resolves once every AF_PACKET worker has started. */
export async function startFastnetmon(lab: Lab, ns: string, setup: FnmSetup, run: number): Promise<FnmInstance> {
  const logFile = path.join(setup.dir, `fastnetmon-run${run}.log`);
  fs.rmSync(logFile, { force: true });
  fs.writeFileSync(setup.notifyLog, '');
  fs.writeFileSync(`${setup.notifyLog}.details`, '');
  const child: ResultPromise = execa(
    'ip',
    ['netns', 'exec', ns, 'fastnetmon', '--configuration_file', setup.conf, '--log_file', logFile, '--disable_pid_logic'],
    { reject: false, all: true },
  );
  const stop = async () => {
    if (child.exitCode !== null && child.exitCode !== undefined) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await child;
    clearTimeout(killer);
  };
  track('fastnetmon', child, stop);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null && child.exitCode !== undefined) {
      const r = await child;
      throw new Error(`fastnetmon exited with ${r.exitCode}: ${String(r.all).split('\n').slice(-3).join(' | ')} ${readTail(logFile)}`);
    }
    const text = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '';
    const cpus = Number(/We have (\d+) cpus for AF_PACKET/.exec(text)?.[1] ?? NaN);
    const workers = (text.match(/Start AF_PACKET worker process for /g) ?? []).length;
    if (cpus > 0 && workers >= cpus) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`fastnetmon not capturing after 15 s: ${readTail(logFile)}`);
    }
    await sleep(50);
  }
  await sleep(300); // the workers bind their sockets right after logging
  void lab;
  return { pid: child.pid, logFile, stop };
}

function readTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}

export interface FnmBan {
  at: number;
  ip: string;
  direction: string;
  pps: number;
}

/** The first `ban` call the notify script recorded, if any. */
export function readFnmBan(notifyLog: string): FnmBan | undefined {
  let text = '';
  try {
    text = fs.readFileSync(notifyLog, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [at, ip, direction, pps, action] = line.trim().split(/\s+/);
    if (action === 'ban') return { at: Number(at), ip: ip ?? '', direction: direction ?? '', pps: Number(pps) };
  }
  return undefined;
}

/** The attack type FastNetMon guessed for its first ban ("syn_flood", "udp_flood", ...), from the details it sent the notify script. */
export function readFnmAttackType(notifyLog: string): string | undefined {
  try {
    return /Attack type:\s*(\S+)/i.exec(fs.readFileSync(`${notifyLog}.details`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}
