// The dashboard's JSON API. The session cookie is HttpOnly (JS never sees it);
// writes carry the per-session CSRF token the server handed out at sign-in.
let csrfToken;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(`/api${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.error ?? `HTTP ${res.status}`);
  return data;
}

export const get = (path) => call('GET', path);

export async function session() {
  const s = await get('/session');
  csrfToken = s.csrfToken;
  return s;
}

export async function login(token) {
  const r = await call('POST', '/login', { token });
  csrfToken = r.csrfToken;
  return r;
}

export async function logout() {
  await call('POST', '/logout');
  csrfToken = undefined;
}

export const savePolicy = (ns, name, controls) => call('PATCH', `/policies/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`, controls);
export const unblock = (ns, name) => call('DELETE', `/blocks/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
export const removeSignatureRule = (ns, name) => call('DELETE', `/signature-rules/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
