// How the MAAS phases reach MAAS: the API key from its Secret, and a client for a URL and key.
// One interface so unit tests hand in fakes and the operator the real thing.
import type { SecretKeyRef } from '../../api/v1alpha1/index.js';
import { DefaultApiKeySecretKey } from '../../api/v1alpha1/index.js';
import { InvalidMaasApiKeyError } from '../../maas/api-key.js';
import { createMaasClient, type MaasClient } from '../../maas/client.js';
import type { Client, MetaObject } from '../../runtime/index.js';

/** Reads Secrets and makes MAAS clients. */
export interface MaasAccess {
  /** A Secret's data, decoded; undefined when it does not exist. */
  readSecret(
    namespace: string,
    name: string,
    signal: AbortSignal,
  ): Promise<Readonly<Record<string, string>> | undefined>;
  /** A client; throws InvalidMaasApiKeyError for a malformed key, before any request. */
  client(url: string, apiKey: string): MaasClient;
}

/** The API key, or why there is none (its message never contains the key). */
export type ApiKey = { readonly key: string } | { readonly problem: string };

/** Reads the API key a SecretKeyRef names and checks its form. */
export async function readApiKey(
  access: MaasAccess,
  namespace: string,
  ref: SecretKeyRef,
  signal: AbortSignal,
): Promise<ApiKey> {
  const key = ref.key ?? DefaultApiKeySecretKey;
  const secret = await access.readSecret(namespace, ref.name, signal);
  if (secret === undefined) return { problem: `Secret ${ref.name} not found` };
  const value = secret[key];
  if (value === undefined || value.trim() === '') {
    return { problem: `Secret ${ref.name} has no key ${key}` };
  }
  return { key: value };
}

/** A client, or the key's problem (malformed). */
export function clientFor(
  access: MaasAccess,
  url: string,
  apiKey: string,
): { readonly client: MaasClient } | { readonly problem: string } {
  try {
    return { client: access.client(url, apiKey) };
  } catch (err) {
    if (err instanceof InvalidMaasApiKeyError) return { problem: err.message };
    throw err;
  }
}

/** The operator's MaasAccess: Secrets through the API server, clients over fetch. */
export function maasAccess(client: Pick<Client, 'get'>, timeoutMs = 15_000): MaasAccess {
  return {
    async readSecret(namespace, name, signal) {
      const secret = await client.get<MetaObject & { data?: Record<string, string> }>(
        { apiVersion: 'v1', kind: 'Secret', namespace, name },
        signal,
      );
      if (!secret) return undefined;
      return Object.fromEntries(
        Object.entries(secret.data ?? {}).map(([k, v]) => [
          k,
          Buffer.from(v, 'base64').toString('utf8'),
        ]),
      );
    },
    client: (url, apiKey) => createMaasClient({ url, apiKey, timeoutMs }),
  };
}
