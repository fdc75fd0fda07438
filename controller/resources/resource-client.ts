// Typed access to floodgate's custom resources through the API server:
// list/get/create/delete, JSON merge patches of metadata or spec, and status
// through the /status subresource (so status writes never touch spec).
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION, type ResourceDescriptor } from '../api/types.js';
import { makeApiClient } from '../kube/api-client.js';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface NamespacedName {
  namespace: string;
  name: string;
}

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion?: string };
}

export class ResourceClient<T> {
  readonly api: CustomObjectsApi;

  constructor(
    kc: KubeConfig,
    readonly resource: ResourceDescriptor,
  ) {
    this.api = makeApiClient(kc, CustomObjectsApi);
  }

  private base(namespace: string) {
    return { group: GROUP, version: VERSION, namespace, plural: this.resource.plural };
  }

  async list(namespace?: string, resourceVersion?: string): Promise<ListResult<T>> {
    const opts = { group: GROUP, version: VERSION, plural: this.resource.plural, resourceVersion };
    const res = namespace
      ? await this.api.listNamespacedCustomObject({ ...opts, namespace })
      : await this.api.listClusterCustomObject(opts);
    return res as ListResult<T>;
  }

  async get({ namespace, name }: NamespacedName): Promise<T> {
    return (await this.api.getNamespacedCustomObject({ ...this.base(namespace), name })) as T;
  }

  async create(namespace: string, body: T): Promise<T> {
    return (await this.api.createNamespacedCustomObject({ ...this.base(namespace), body: body as object })) as T;
  }

  /** JSON merge patch of metadata and/or spec. */
  async patch({ namespace, name }: NamespacedName, body: object): Promise<T> {
    return (await this.api.patchNamespacedCustomObject({ ...this.base(namespace), name, body }, mergePatch)) as T;
  }

  /** JSON merge patch of status via the status subresource. */
  async patchStatus({ namespace, name }: NamespacedName, status: object): Promise<T> {
    return (await this.api.patchNamespacedCustomObjectStatus({ ...this.base(namespace), name, body: { status } }, mergePatch)) as T;
  }

  async delete({ namespace, name }: NamespacedName): Promise<void> {
    await this.api.deleteNamespacedCustomObject({ ...this.base(namespace), name });
  }
}

/** The HTTP status of a client-node 1.x ApiException (or undefined). */
export function httpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}
