// The few typed API calls the controller makes, over RestClient. Method names
// and parameter objects are client-node's (CoreV1Api, CoordinationV1Api,
// CustomObjectsApi), and the interfaces below are the matching subsets of
// client-node's types: the controller's parts take either (tests may hand
// them client-node's clients), while the controller itself never loads
// client-node (only its types are imported, which costs nothing at run time).
import type { CoordinationV1Api, CoreV1Api, CoreV1Event, CustomObjectsApi, V1Lease, V1Pod, V1PodList, V1Secret } from '@kubernetes/client-node';
import { JSON_PATCH, MERGE_PATCH, RestClient, type Query } from './rest-client.js';

/** What the controller uses of CoreV1Api. */
export type CoreApi = Pick<CoreV1Api, 'listNamespacedPod' | 'readNamespacedSecret' | 'createNamespacedEvent' | 'patchNamespacedEvent'>;
/** What the controller uses of CoordinationV1Api. */
export type LeaseApi = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;
/** What the controller uses of CustomObjectsApi. */
export type CustomObjectsSubset = Pick<CustomObjectsApi, 'getNamespacedCustomObject'>;

const seg = encodeURIComponent;

export class CoreClient implements CoreApi {
  constructor(private readonly rest: RestClient) {}

  listNamespacedPod(p: { namespace: string; labelSelector?: string; fieldSelector?: string; limit?: number }): Promise<V1PodList> {
    return this.rest.request<V1PodList>({ path: `/api/v1/namespaces/${seg(p.namespace)}/pods`, query: { labelSelector: p.labelSelector, fieldSelector: p.fieldSelector, limit: p.limit } });
  }

  readNamespacedSecret(p: { name: string; namespace: string }): Promise<V1Secret> {
    return this.rest.request<V1Secret>({ path: `/api/v1/namespaces/${seg(p.namespace)}/secrets/${seg(p.name)}` });
  }

  createNamespacedEvent(p: { namespace: string; body: CoreV1Event }): Promise<CoreV1Event> {
    return this.rest.request<CoreV1Event>({ method: 'POST', path: `/api/v1/namespaces/${seg(p.namespace)}/events`, body: p.body });
  }

  /** A JSON Patch (client-node's default patch type for this call). */
  patchNamespacedEvent(p: { name: string; namespace: string; body: unknown }): Promise<CoreV1Event> {
    return this.rest.request<CoreV1Event>({ method: 'PATCH', path: `/api/v1/namespaces/${seg(p.namespace)}/events/${seg(p.name)}`, body: p.body, contentType: JSON_PATCH });
  }

  /** A pod's own JSON (for readers that only need a few fields). */
  readNamespacedPod(p: { name: string; namespace: string }): Promise<V1Pod> {
    return this.rest.request<V1Pod>({ path: `/api/v1/namespaces/${seg(p.namespace)}/pods/${seg(p.name)}` });
  }
}

/** Where Leases are served, for ResourceClient. */
export const LEASES = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', scope: 'Namespaced' } as const;

export class LeaseClient implements LeaseApi {
  constructor(private readonly rest: RestClient) {}

  private path(namespace: string, name?: string): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${seg(namespace)}/leases${name === undefined ? '' : `/${seg(name)}`}`;
  }

  readNamespacedLease(p: { name: string; namespace: string }): Promise<V1Lease> {
    return this.rest.request<V1Lease>({ path: this.path(p.namespace, p.name) });
  }

  createNamespacedLease(p: { namespace: string; body: V1Lease }): Promise<V1Lease> {
    return this.rest.request<V1Lease>({ method: 'POST', path: this.path(p.namespace), body: p.body });
  }

  replaceNamespacedLease(p: { name: string; namespace: string; body: V1Lease }): Promise<V1Lease> {
    return this.rest.request<V1Lease>({ method: 'PUT', path: this.path(p.namespace, p.name), body: p.body });
  }
}

export interface CustomRef {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: 'status';
}

/** Custom (and aggregated, e.g. metrics.k8s.io) resources as plain JSON. */
export class CustomObjectsClient implements CustomObjectsSubset {
  constructor(readonly rest: RestClient) {}

  static path(r: CustomRef): string {
    let p = `/apis/${seg(r.group)}/${seg(r.version)}`;
    if (r.namespace !== undefined) p += `/namespaces/${seg(r.namespace)}`;
    p += `/${seg(r.plural)}`;
    if (r.name !== undefined) p += `/${seg(r.name)}`;
    if (r.subresource) p += `/${r.subresource}`;
    return p;
  }

  list<T>(r: CustomRef, query?: Query): Promise<T> {
    return this.rest.request<T>({ path: CustomObjectsClient.path(r), query });
  }

  get<T>(r: CustomRef & { name: string }): Promise<T> {
    return this.rest.request<T>({ path: CustomObjectsClient.path(r) });
  }

  create<T>(r: CustomRef, body: unknown): Promise<T> {
    return this.rest.request<T>({ method: 'POST', path: CustomObjectsClient.path(r), body });
  }

  /** JSON merge patch (default), JSON patch or server-side apply, on the object or its status. */
  patch<T>(r: CustomRef & { name: string }, body: unknown, contentType: string = MERGE_PATCH, query?: Query): Promise<T> {
    return this.rest.request<T>({ method: 'PATCH', path: CustomObjectsClient.path(r), body, contentType, query });
  }

  delete(r: CustomRef & { name: string }): Promise<unknown> {
    return this.rest.request({ method: 'DELETE', path: CustomObjectsClient.path(r) });
  }

  /** client-node's signature, for the memory sources. */
  getNamespacedCustomObject(p: { group: string; version: string; namespace: string; plural: string; name: string }): Promise<object> {
    return this.get<object>(p);
  }
}
