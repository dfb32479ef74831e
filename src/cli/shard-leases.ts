// ShardLeases: one Lease per hypervisor shard, `maaslab-hv-<name>`.
//
// A replica serves a hypervisor only while it holds that shard's lease. One process with
// `--hypervisors all` competes for every shard; several replicas split them. `onStart`
// receives a signal that aborts the moment the lease is lost, and `onStop` is called at
// once, so the shard's work stops before anyone else can take over (renewDeadline <
// leaseDuration). Shards can be added and removed while running (new Hypervisors).
// maaslab's own: the generic runtime knows Leases (leaderelection/) and a LeaseHolder the
// manager releases on stop, not hypervisor shards.

import {
  type Clock,
  type LeaderElectionMetrics,
  type LeaseElector,
  LeaseEvent,
  type LeaseStore,
  type LeaseTiming,
  type Logger,
  type Manager,
  createLeaseElector,
  describeError,
  noopLogger,
} from '../runtime/index.js';

/** Prefix of shard Lease names. */
export const SHARD_LEASE_PREFIX = 'maaslab-hv-';

/** The Lease name for hypervisor `shard`. */
export const shardLeaseName = (shard: string): string => `${SHARD_LEASE_PREFIX}${shard}`;

/** Holds the leases of a set of shards. */
export interface ShardLeases {
  /** Competes for exactly these shards: new ones start, missing ones are released. */
  set(shards: Iterable<string>): Promise<void>;
  /** Shards this process leads now. */
  leading(): ReadonlySet<string>;
  /** True while this process leads `shard`. */
  isLeading(shard: string): boolean;
  /** Releases every lease (stopping each shard first). */
  stop(): Promise<void>;
}

/** Options for `createShardLeases`. */
export interface ShardLeasesOptions {
  /** Where the Leases live (one namespace). */
  readonly store: LeaseStore;
  /** This replica's identity. */
  readonly identity: string;
  /** Starts a shard's work; `signal` aborts when the lease is lost or released. */
  readonly onStart: (shard: string, signal: AbortSignal) => void | Promise<void>;
  /** Stops a shard's work at once. */
  readonly onStop: (shard: string) => void | Promise<void>;
  /** Timing (default 15 s / 10 s / 2 s). */
  readonly timing?: LeaseTiming;
  /** Time source. */
  readonly clock?: Clock;
  /** Uniform [0, 1) source. */
  readonly random?: () => number;
  /** Metrics hooks (label `name` is the Lease name). */
  readonly metrics?: LeaderElectionMetrics;
  /** Logger. */
  readonly logger?: Logger;
}

/** Creates the manager; it competes for nothing until `set`. */
export function createShardLeases(opts: ShardLeasesOptions): ShardLeases {
  const log = opts.logger ?? noopLogger;
  const electors = new Map<string, LeaseElector>();
  const leading = new Set<string>();

  const call = (what: string, shard: string, fn: () => void | Promise<void>): void => {
    try {
      Promise.resolve(fn()).catch((err: unknown) =>
        log.error(`Shard ${what} failed`, { shard, error: describeError(err) }),
      );
    } catch (err) {
      log.error(`Shard ${what} failed`, { shard, error: describeError(err) });
    }
  };

  const add = (shard: string): void => {
    const elector = createLeaseElector({
      name: shardLeaseName(shard),
      identity: opts.identity,
      store: opts.store,
      ...(opts.timing ? { timing: opts.timing } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.random ? { random: opts.random } : {}),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
      logger: log.child({ shard }),
    });
    elector.on(LeaseEvent.StartedLeading, (signal) => {
      leading.add(shard);
      call('start', shard, () => opts.onStart(shard, signal));
    });
    elector.on(LeaseEvent.StoppedLeading, () => {
      leading.delete(shard);
      call('stop', shard, () => opts.onStop(shard));
    });
    electors.set(shard, elector);
    elector.start();
  };

  const drop = async (shard: string): Promise<void> => {
    const elector = electors.get(shard);
    electors.delete(shard);
    await elector?.release();
    opts.metrics?.forget(shardLeaseName(shard));
  };

  return {
    async set(shards) {
      const want = new Set(shards);
      for (const s of want) if (!electors.has(s)) add(s);
      await Promise.all([...electors.keys()].filter((s) => !want.has(s)).map(drop));
    },
    leading: () => new Set(leading),
    isLeading: (shard) => leading.has(shard),
    async stop() {
      await Promise.all([...electors.keys()].map(drop));
    },
  };
}

/**
 * Shard leases in `manager`'s namespace, as its identity, with its clock, logger and
 * leader-election metrics; the manager releases them on stop, after its runnables drained.
 */
export function createManagerShardLeases(
  manager: Manager,
  cb: Pick<ShardLeasesOptions, 'onStart' | 'onStop'>,
): ShardLeases {
  const set = createShardLeases({
    store: manager.leaseStore,
    identity: manager.identity,
    clock: manager.clock,
    logger: manager.logger,
    metrics: manager.metrics.leaderElection,
    ...cb,
  });
  manager.addLeaseHolder(set);
  return set;
}
