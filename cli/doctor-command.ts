// `floodgate doctor`: checks a host before the agent runs there, one line per
// check, exit 1 when anything an agent needs is missing.
import fs from 'node:fs';
import type { Command } from 'commander';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Warnings don't fail the run. */
  warnOnly?: boolean;
}

async function attempt(name: string, fn: () => Promise<string> | string, warnOnly = false): Promise<Check> {
  try {
    return { name, ok: true, detail: await fn(), warnOnly };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message.split('\n')[0]!, warnOnly };
  }
}

export async function runChecks(opts: { config?: string; pfConf?: string; platform?: NodeJS.Platform }): Promise<Check[]> {
  // Loaded here, not at the top: other commands (the controller) need none of the agent or the addon.
  const { loadBinding } = await import('../native/lib/binding.js');
  const { Capture } = await import('../native/lib/capture.js');
  const { defaultInterface } = await import('../native/lib/default-interface.js');
  const { selectBackend } = await import('../agent/firewall/select-backend.js');
  const { checkAnchorReference } = await import('../agent/firewall/pf-backend.js');
  const { loadAgentConfig, readToken } = await import('../agent/config/agent-config.js');
  const platform = opts.platform ?? process.platform;
  const checks: Check[] = [];
  const cfg = loadAgentConfig(opts.config);
  checks.push(await attempt('native engine', () => `built, ${loadBinding().libpcapVersion}`));
  const iface = cfg.interface ?? (await defaultInterface(() => loadBinding().interfaces()).catch(() => 'lo'));
  checks.push(
    await attempt(`capture on ${iface}`, () => {
      const cap = Capture.openLive({ interface: iface, slotMs: 1000 });
      const warnings = cap.info.warnings;
      cap.close();
      return warnings.length ? `works, with warnings: ${warnings.join('; ')}` : 'works (CAP_NET_RAW or root present)';
    }),
  );
  checks.push(
    await attempt(`firewall backend (${cfg.backend})`, async () => {
      const { backend, reasons } = await selectBackend({ name: cfg.backend });
      const d = backend.describe();
      return `${backend.name}: ${d.objects.join(', ')}${reasons.length ? ` (${reasons.join('; ')})` : ''}`;
    }),
  );
  if (platform === 'darwin' || opts.pfConf) {
    checks.push(
      await attempt('pf.conf anchor', async () => {
        const r = await checkAnchorReference(opts.pfConf ?? '/etc/pf.conf');
        if (!r.ok) throw new Error(r.message);
        return r.message;
      }),
    );
  }
  checks.push(
    await attempt('API token', () => {
      const token = readToken(cfg.tokenFile);
      if (!token) throw new Error('no --token-file or FLOODGATE_TOKEN: the API will only listen on loopback');
      return cfg.tokenFile ? `read from ${cfg.tokenFile}` : 'from FLOODGATE_TOKEN';
    }, true),
  );
  const { loadTlsFiles } = await import('../lib/tls-files.js');
  const { isLoopbackHost } = await import('../agent/api/host-guard.js');
  const tls = cfg.tls;
  checks.push(
    tls
      ? // Files the agent would refuse to start with fail here too.
        await attempt('API TLS', () => {
          const m = loadTlsFiles({ certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.clientCaFile });
          const days = Math.floor((Date.parse(m.leaf!.validTo) - Date.now()) / 86400_000);
          const mutual = tls.clientCaFile ? `, mutual TLS${tls.clientNames.length ? ` (${tls.clientNames.join(', ')})` : ''}` : ', no client certificates asked for';
          return `${m.leaf!.subject.replace(/\n/g, ', ')}, expires in ${days} day(s)${mutual}`;
        })
      : await attempt('API TLS', () => {
          if (isLoopbackHost(cfg.listen.host)) return 'plain HTTP on loopback';
          throw new Error(`plain HTTP on ${cfg.listen.host}: the token crosses the network in clear; set tls (docs/tls.md)`);
        }, true),
  );
  checks.push(
    await attempt('state directory', () => {
      fs.mkdirSync(cfg.stateDir, { recursive: true });
      fs.accessSync(cfg.stateDir, fs.constants.W_OK);
      return `${cfg.stateDir} is writable`;
    }),
  );
  return checks;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check this host for the agent: native engine, capture permission, firewall backend, pf anchor, token, TLS files')
    .option('--config <file.yaml>', 'agent config to check against')
    .option('--pf-conf <path>', 'pf.conf to check for the floodgate anchor (default /etc/pf.conf on macOS)')
    .option('--json', 'print JSON')
    .action(async (flags: { config?: string; pfConf?: string; json?: boolean }) => {
      const checks = await runChecks(flags);
      if (flags.json) console.log(JSON.stringify(checks, null, 2));
      else for (const c of checks) console.log(`${c.ok ? 'ok  ' : c.warnOnly ? 'warn' : 'FAIL'}  ${c.name}: ${c.detail}`);
      if (checks.some((c) => !c.ok && !c.warnOnly)) process.exitCode = 1;
    });
}
