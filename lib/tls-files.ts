// TLS material read from PEM files (a certificate chain, its private key, a
// CA bundle), checked before use and re-read when the files change, so that a
// rotated certificate (a Kubernetes Secret volume swapping its files,
// cert-manager renewing, a host operator replacing them) is picked up without
// a restart. Used by the agent's HTTPS server and by the agent client's
// callers (the controller, `floodgate blocks`).
//
// A file set that fails its checks is never used: at start the caller refuses
// to start (TlsFileError, one line); later the last good set stays in use and
// the error is reported once per change (onError).
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';

export interface TlsFilePaths {
  /** PEM certificate chain, leaf first. */
  certFile?: string;
  /** PEM private key of the leaf. */
  keyFile?: string;
  /** PEM CA bundle: the CAs to verify the peer with. */
  caFile?: string;
}

export interface TlsMaterial {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
  /** The parsed leaf certificate (with cert). */
  leaf?: X509Certificate;
  /** sha256 over the three files' contents: changes exactly when the material does. */
  digest: string;
}

/** A TLS file that is missing, unreadable, not PEM, expired, or a key that does not match its certificate. */
export class TlsFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsFileError';
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

function read(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new TlsFileError(`cannot read TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Every certificate of a PEM bundle, parsed; throws TlsFileError when there is none or one does not parse. */
export function pemCertificates(pem: Buffer | string, file: string, what: string): X509Certificate[] {
  const blocks = String(pem).match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new TlsFileError(`TLS ${what} ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new TlsFileError(`TLS ${what} ${file}: certificate ${i + 1} does not parse: ${(err as Error).message}`);
    }
  });
}

/** Whether `cert` may be used at `now`: neither expired nor not yet valid. */
function checkValidity(cert: X509Certificate, file: string, now: Date): void {
  if (Date.parse(cert.validTo) < now.getTime()) throw new TlsFileError(`TLS certificate ${file} expired at ${new Date(cert.validTo).toISOString()}`);
  if (Date.parse(cert.validFrom) > now.getTime()) throw new TlsFileError(`TLS certificate ${file} is not valid before ${new Date(cert.validFrom).toISOString()}`);
}

/**
 * Read and check a set of TLS files: the certificate parses and is valid now,
 * the key parses and matches the certificate, the CA bundle holds at least
 * one certificate. certFile and keyFile come together or not at all.
 */
export function loadTlsFiles(paths: TlsFilePaths, now: Date = new Date()): TlsMaterial {
  if ((paths.certFile === undefined) !== (paths.keyFile === undefined)) {
    throw new TlsFileError(paths.certFile ? `TLS certificate ${paths.certFile} needs its private key file too` : `TLS private key ${paths.keyFile} needs its certificate file too`);
  }
  const hash = crypto.createHash('sha256');
  const m: Omit<TlsMaterial, 'digest'> = {};
  if (paths.certFile && paths.keyFile) {
    m.cert = read(paths.certFile, 'certificate');
    m.key = read(paths.keyFile, 'private key');
    const [leaf] = pemCertificates(m.cert, paths.certFile, 'certificate');
    let key: crypto.KeyObject;
    try {
      key = crypto.createPrivateKey(m.key);
    } catch (err) {
      throw new TlsFileError(`TLS private key ${paths.keyFile} does not parse (PEM, unencrypted): ${(err as Error).message}`);
    }
    if (!leaf!.checkPrivateKey(key)) throw new TlsFileError(`TLS private key ${paths.keyFile} does not match certificate ${paths.certFile}`);
    checkValidity(leaf!, paths.certFile, now);
    m.leaf = leaf;
  }
  if (paths.caFile) {
    m.ca = read(paths.caFile, 'CA bundle');
    pemCertificates(m.ca, paths.caFile, 'CA bundle');
  }
  for (const b of [m.cert, m.key, m.ca]) hash.update(b ?? Buffer.alloc(0)).update('\0');
  return { ...m, digest: hash.digest('hex') };
}

export interface TlsFileWatchOptions {
  /** How often the files are looked at again. Default 10 s. */
  checkEveryMs?: number;
  /** A changed file set that fails its checks (the last good one stays in use). Reported once per change. */
  onError?: (err: Error) => void;
  now?: () => number;
}

/**
 * TLS files read once (throwing TlsFileError if they are bad), then re-read
 * at most every checkEveryMs when current() is asked for them. A good new set
 * replaces the old one; a bad one is reported and ignored.
 */
export class ReloadingTlsFiles {
  private material: TlsMaterial;
  private checkedAt: number;
  private badDigest: string | undefined;
  private readonly every: number;
  private readonly now: () => number;

  constructor(
    readonly paths: TlsFilePaths,
    private readonly opts: TlsFileWatchOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.every = opts.checkEveryMs ?? 10_000;
    this.material = loadTlsFiles(paths, new Date(this.now()));
    this.checkedAt = this.now();
  }

  /** The current good material, re-read first when checkEveryMs has passed. */
  current(): TlsMaterial {
    if (this.now() - this.checkedAt >= this.every) this.check();
    return this.material;
  }

  /** Re-read now; true when the material changed. */
  check(): boolean {
    this.checkedAt = this.now();
    let next: TlsMaterial;
    try {
      next = loadTlsFiles(this.paths, new Date(this.now()));
    } catch (err) {
      // One report per bad state of the files, not one per look.
      const digest = crypto.createHash('sha256').update((err as Error).message).digest('hex');
      if (digest !== this.badDigest) {
        this.badDigest = digest;
        this.opts.onError?.(err as Error);
      }
      return false;
    }
    this.badDigest = undefined;
    if (next.digest === this.material.digest) return false;
    this.material = next;
    return true;
  }
}
