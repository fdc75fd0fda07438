// Where our objects enter the controller: the informers' transform. Each
// object is resolved once here (api/v1alpha1 resolveObject: spec parsed by
// its kind's schema, defaults filled in), so reconcilers, triggers and the
// dashboard read a typed, defaulted spec and never default it again. An
// object the schema rejects (written under an older CRD) is cached resolved
// as far as possible and its problems are kept here, so the reconciler can
// report it instead of acting on it.
import type { Logger } from 'pino';
import { resolveObject, type KindDefinition, type ObjectOf } from '../../api/v1alpha1/index.js';
import { objectKey } from '../../kube/informer.js';

export class Admission<K extends KindDefinition> {
  private readonly problems = new Map<string, { resourceVersion?: string; message: string }>();

  constructor(
    private readonly kind: K,
    private readonly logger?: Logger,
  ) {}

  /** The informer transform: the object as the controller works with it. */
  readonly admit = (raw: object): ObjectOf<K> => {
    const { object, problems } = resolveObject(this.kind, raw);
    const key = objectKey(object);
    if (problems.length === 0) {
      this.problems.delete(key);
      return object;
    }
    const message = problems.join('; ');
    const resourceVersion = object.metadata.resourceVersion;
    const known = this.problems.get(key);
    if (known?.resourceVersion !== resourceVersion || known?.message !== message) {
      this.logger?.warn({ kind: this.kind.kind, object: key, resourceVersion, problems }, 'object does not match its schema');
    }
    this.problems.set(key, { resourceVersion, message });
    return object;
  };

  /** Why the cached object with this key is invalid (one line), or undefined when it is valid. */
  problem(key: string): string | undefined {
    return this.problems.get(key)?.message;
  }

  /** Drop what is known about a deleted object. */
  forget(key: string): void {
    this.problems.delete(key);
  }
}
