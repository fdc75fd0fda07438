// The node identity exchange between an in-cluster agent and the controller
// (docs/node-identity.md): the agent proves which pod it is with a token the
// kubelet bound to its pod (audience NODE_IDENTITY_AUDIENCE), and gets back a
// token of its node's own ServiceAccount, the only identity allowed to write
// its FloodgateNode's status. The answer is sealed to a key the agent made for
// this request (X25519, HKDF-SHA256, AES-256-GCM), so the node token never
// crosses the network in clear, even over plain HTTP.
import crypto from 'node:crypto';
import { z } from 'zod';

/** The audience of the pod-bound token the agent presents (its projected volume asks for it). */
export const NODE_IDENTITY_AUDIENCE = 'floodgate.dev/node-identity';
/** POST path on the controller's node identity port. */
export const NODE_IDENTITY_PATH = '/v1/node-identity';
const HKDF_INFO = Buffer.from('floodgate node identity v1');
const b64 = z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/).max(8192);

export const nodeIdentityRequestSchema = z.strictObject({
  /** The agent's X25519 public key for this request (SPKI DER, base64). */
  publicKey: b64,
});
export type NodeIdentityRequest = z.infer<typeof nodeIdentityRequestSchema>;

const sealedSchema = z.strictObject({
  ephemeralPublicKey: b64,
  iv: b64,
  ciphertext: b64,
  tag: b64,
});
export type Sealed = z.infer<typeof sealedSchema>;

export const nodeIdentityResponseSchema = z.strictObject({
  /** The node the pod runs on: the FloodgateNode the token may write. */
  node: z.string().min(1).max(253),
  serviceAccount: z.strictObject({ namespace: z.string().min(1).max(63), name: z.string().min(1).max(253) }),
  /** RFC 3339: when the token expires (renew before). */
  expiresAt: z.iso.datetime({ offset: true }),
  /** The token, sealed to the request's public key. */
  token: sealedSchema,
});
export type NodeIdentityResponse = z.infer<typeof nodeIdentityResponseSchema>;

export const nodeIdentityErrorSchema = z.strictObject({ error: z.string().max(1000) });

function derive(shared: Buffer, salt: Buffer): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', shared, salt, HKDF_INFO, 32));
}

/** A key pair for one request: send `publicKey`, keep `open`. */
export function requestKeys(): { publicKey: string; open: (s: Sealed) => string } {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
  return {
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    open(s: Sealed): string {
      const eph = crypto.createPublicKey({ key: Buffer.from(s.ephemeralPublicKey, 'base64'), format: 'der', type: 'spki' });
      const shared = crypto.diffieHellman({ privateKey, publicKey: eph });
      const key = derive(shared, Buffer.from(s.ephemeralPublicKey, 'base64'));
      const d = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(s.iv, 'base64'));
      d.setAuthTag(Buffer.from(s.tag, 'base64'));
      return Buffer.concat([d.update(Buffer.from(s.ciphertext, 'base64')), d.final()]).toString('utf8');
    },
  };
}

/** Seal `secret` to a request's public key; throws on a key that is not X25519. */
export function seal(publicKeyB64: string, secret: string): Sealed {
  const recipient = crypto.createPublicKey({ key: Buffer.from(publicKeyB64, 'base64'), format: 'der', type: 'spki' });
  if (recipient.asymmetricKeyType !== 'x25519') throw new Error(`publicKey is ${recipient.asymmetricKeyType ?? 'unknown'}, not x25519`);
  const { publicKey, privateKey } = crypto.generateKeyPairSync('x25519');
  const ephemeral = publicKey.export({ type: 'spki', format: 'der' });
  const key = derive(crypto.diffieHellman({ privateKey, publicKey: recipient }), ephemeral);
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
  return { ephemeralPublicKey: ephemeral.toString('base64'), iv: iv.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: c.getAuthTag().toString('base64') };
}

/** The ServiceAccount of a node's identity: floodgate-node-<node>, or a hashed name when that is too long. */
export function nodeServiceAccountName(node: string): string {
  const name = `floodgate-node-${node}`;
  if (name.length <= 253) return name;
  const hash = crypto.createHash('sha256').update(node).digest('hex').slice(0, 16);
  return `floodgate-node-${node.slice(0, 253 - 16 - 17).replace(/[-.]+$/, '')}-${hash}`;
}
