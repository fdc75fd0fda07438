// Typed access to floodgate's custom resources through the API server:
// list/get/create/delete, JSON merge patches of metadata or spec, and status
// through the /status subresource (so status writes never touch spec).
import { GROUP, VERSION, type ResourceDescriptor } from '../api/v1alpha1/index.js';
import { CustomObjectsClient } from './kube-apis.js';
import type { RestClient } from './rest-client.js';
import { statusCodeOf } from './util.js';

export interface NamespacedName {
  namespace: string;
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
    readonly resource: ResourceDescriptor,
  ) {
    this.api = new CustomObjectsClient(rest);
  }

  private ref(namespace?: string, name?: string) {
    return { group: GROUP, version: VERSION, plural: this.resource.plural, namespace, name };
  }

  /** One namespace, or all of them. */
  async list(namespace?: string, query: ListQuery | string = {}): Promise<ListResult<T>> {
    const q = typeof query === 'string' ? { resourceVersion: query } : query;
    return this.api.list<ListResult<T>>(this.ref(namespace), { ...q });
  }

  async get({ namespace, name }: NamespacedName): Promise<T> {
    return this.api.get<T>({ ...this.ref(namespace), name });
  }

  async create(namespace: string, body: T): Promise<T> {
    return this.api.create<T>(this.ref(namespace), body);
  }

  /** JSON merge patch of metadata and/or spec. */
  async patch({ namespace, name }: NamespacedName, body: object): Promise<T> {
    return this.api.patch<T>({ ...this.ref(namespace), name }, body);
  }

  /** JSON merge patch of status via the status subresource. */
  async patchStatus({ namespace, name }: NamespacedName, status: object): Promise<T> {
    return this.api.patch<T>({ ...this.ref(namespace), name, subresource: 'status' }, { status });
  }

  async delete({ namespace, name }: NamespacedName): Promise<void> {
    await this.api.delete({ ...this.ref(namespace), name });
  }
}

/** The HTTP status of a failed API call (or undefined). */
export function httpStatus(err: unknown): number | undefined {
  return statusCodeOf(err);
}
