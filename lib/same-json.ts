// Whether two values would be the same JSON document, whatever the order of
// their keys. Objects read back from the API server have their keys sorted
// (it stores custom resources as unstructured JSON), objects built in code
// have them in the order written: comparing JSON.stringify of the two says
// "changed" for every status, and a status write per reconcile follows
// (each of which every watcher of the kind then receives).
import { isDeepStrictEqual } from 'node:util';

export function sameJson(a: unknown, b: unknown): boolean {
  const norm = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  return isDeepStrictEqual(norm(a), norm(b));
}
