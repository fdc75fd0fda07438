// Typed access to one custom resource through the API server: list/get/
// create/delete, JSON merge patches of metadata or spec, and status through
// the /status subresource (so status writes never touch spec). Namespaced and
// cluster-scoped kinds alike: a cluster-scoped object's ref has no namespace.
import { CustomObjectsClient } from './kube-apis.js';
import type { Query, RestClient } from './rest-client.js';
import { statusCodeOf } from './util.js';

/** Where a kind is served (a KindDefinition of api/v1alpha1 is one). */
export interface ResourceRef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly scope?: 'Namespaced' | 'Cluster';
}

export interface NamespacedName {
  namespace: string;
  name: string;
}

/** A namespaced object's name, or a cluster-scoped one's (no namespace). */
export interface ObjectRef {
  namespace?: string;
  name: string;
}

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

export interface ListQuery {
  resourceVersion?: string;
  limit?: number;
  continue?: string;
  labelSelector?: string;
}

export class ResourceClient<T> {
  readonly api: CustomObjectsClient;

  constructor(
    rest: RestClient,
    readonly resource: ResourceRef,
  ) {
    this.api = new CustomObjectsClient(rest);
  }

  private ref(namespace?: string, name?: string) {
    // A cluster-scoped kind has no namespace in its paths, whatever the caller passes.
    const ns = this.resource.scope === 'Cluster' ? undefined : namespace;
    return { group: this.resource.group, version: this.resource.version, plural: this.resource.plural, namespace: ns, name };
  }

  /** The collection's path, for an informer's watch (all namespaces, or cluster-scoped). */
  watchPath(): string {
    return CustomObjectsClient.path(this.ref());
  }

  /** One namespace, or all of them (and always all for a cluster-scoped kind). */
  async list(namespace?: string, query: ListQuery | string = {}): Promise<ListResult<T>> {
    const q = typeof query === 'string' ? { resourceVersion: query } : query;
    return this.api.list<ListResult<T>>(this.ref(namespace), { ...q } as Query);
  }

  async get({ namespace, name }: ObjectRef): Promise<T> {
    return this.api.get<T>({ ...this.ref(namespace), name });
  }

  async create(namespace: string | undefined, body: T): Promise<T> {
    return this.api.create<T>(this.ref(namespace), body);
  }

  /** JSON merge patch of metadata and/or spec. */
  async patch({ namespace, name }: ObjectRef, body: object): Promise<T> {
    return this.api.patch<T>({ ...this.ref(namespace), name }, body);
  }

  /** JSON merge patch of status via the status subresource. */
  async patchStatus({ namespace, name }: ObjectRef, status: object): Promise<T> {
    return this.api.patch<T>({ ...this.ref(namespace), name, subresource: 'status' }, { status });
  }

  async delete({ namespace, name }: ObjectRef): Promise<void> {
    await this.api.delete({ ...this.ref(namespace), name });
  }
}

/** The HTTP status of a failed API call (or undefined). */
export function httpStatus(err: unknown): number | undefined {
  return statusCodeOf(err);
}
