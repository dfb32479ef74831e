// client: talking to the API server, as client-go's rest and controller-runtime's client
// packages do. kubeconfig.ts loads a RestConfig (files, $KUBECONFIG, in-cluster),
// credentials.ts and exec-credential.ts supply its credentials, rest.ts sends raw-JSON
// requests and watches over node:https, and client.ts writes status, finalizers and applies.
export type { ApplyOptions, Client, ClientOptions, StatusObject, WriteResult } from './client.js';
export { FIELD_MANAGER, createClient, refOf, statusMergePatch } from './client.js';
export type { LoadRestConfigOptions, RestConfig } from './kubeconfig.js';
export { loadRestConfig } from './kubeconfig.js';
export type {
  ObjectList,
  ResourceRef,
  RestClient,
  RestRequest,
  WatchCallbacks,
  WatchHandle,
} from './rest.js';
export {
  ContentType,
  createRestClient,
  hasStatus,
  isConflict,
  isGone,
  isNotFound,
} from './rest.js';
