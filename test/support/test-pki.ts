// A throwaway PKI for TLS tests, made with the openssl command line (as an
// operator would): CAs, serving certificates (extendedKeyUsage serverAuth)
// and client certificates (clientAuth), ECDSA P-256, in a temp dir.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface Issued {
  cert: string;
  key: string;
  /** The file paths. */
  certFile: string;
  keyFile: string;
}

export interface TestCa extends Issued {
  /** A serving certificate: DNS and IP SANs, serverAuth only. */
  serving(name: string, sans: { dns?: string[]; ips?: string[] }, opts?: { days?: number }): Promise<Issued>;
  /** A client certificate with subject CN=cn, clientAuth only. */
  client(cn: string): Promise<Issued>;
}

export interface TestPki {
  dir: string;
  ca(name: string): Promise<TestCa>;
  remove(): void;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const r = await execa('openssl', args, { cwd, reject: false });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(' ')}: ${String(r.stderr)}`);
}

export function testPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fg-pki-'));
  const file = (name: string) => path.join(dir, name);
  const issued = (base: string): Issued => ({
    certFile: file(`${base}.crt`),
    keyFile: file(`${base}.key`),
    cert: fs.readFileSync(file(`${base}.crt`), 'utf8'),
    key: fs.readFileSync(file(`${base}.key`), 'utf8'),
  });
  const newKey = (base: string) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${base}.key`], dir);

  return {
    dir,
    async ca(name) {
      await newKey(name);
      await openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-days', '30', '-out', `${name}.crt`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
      const sign = async (base: string, subject: string, ext: string[], days: number) => {
        await newKey(base);
        await openssl(['req', '-new', '-key', `${base}.key`, '-subj', subject, '-out', `${base}.csr`], dir);
        fs.writeFileSync(file(`${base}.ext`), `${ext.join('\n')}\n`);
        await openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', `${name}.crt`, '-CAkey', `${name}.key`, '-CAcreateserial', '-days', String(days), '-extfile', `${base}.ext`, '-out', `${base}.crt`], dir);
        return issued(base);
      };
      let n = 0;
      return {
        ...issued(name),
        serving(cn, sans, opts = {}) {
          const alt = [...(sans.dns ?? []).map((d) => `DNS:${d}`), ...(sans.ips ?? []).map((i) => `IP:${i}`)].join(',');
          return sign(`${name}-serving-${cn}-${n++}`, `/CN=${cn}`, ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', ...(alt ? [`subjectAltName=${alt}`] : [])], opts.days ?? 10);
        },
        client(cn) {
          return sign(`${name}-client-${cn}-${n++}`, `/CN=${cn}`, ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'], 10);
        },
      };
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
