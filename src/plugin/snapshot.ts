// The snapshot verbs' pure parts: `snapshot LAB [NAME]` (the default name, the object to
// create, when its capture is over), `restore LAB SNAPSHOT` (the merge patch of
// spec.restoreFrom with a new token, when the restore of that token is over) and `snapshots
// LAB` (the table). Pure: no API calls; the clock comes in as `now`.

import {
  type Condition,
  DefaultSnapshotMode,
  GroupVersion,
  type MaasLab,
  type MaasLabSnapshot,
  MaasLabSnapshotKind,
  ReadyCondition,
  ReconcilingCondition,
  type SnapshotMode,
  StalledCondition,
} from '../api/v1alpha1/index.js';
import { humanDuration, renderTable } from './table.js';
import { definedProps } from '../util/defined-props.js';

/** Where a capture or a restore is, for the progress line. */
export interface Progress {
  /** status.phase, or status.restore.phase. */
  readonly phase: string;
  /** Members done so far, once the operator counts them. */
  readonly done?: number;
  /** Members in all, once the operator knows. */
  readonly total?: number;
  /** What the operator says it is doing or waiting for. */
  readonly detail?: string;
}

/** What `--wait` does next: poll again, stop with exit 0, or stop with exit 1. */
export type WaitState =
  | { readonly kind: 'waiting'; readonly progress: Progress }
  | { readonly kind: 'done'; readonly progress: Progress }
  | { readonly kind: 'failed'; readonly progress: Progress; readonly message: string };

/** The longest object name (a DNS subdomain). */
const MaxNameLength = 253;

/** `LAB-YYYYMMDD-HHMMSS`, the UTC time of `now`: the name of a snapshot not named. */
export function defaultSnapshotName(lab: string, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/\.\d{3}Z$/, '')
    .replace(/[-:]/g, '')
    .replace('T', '-')
    .toLowerCase();
  // A lab near the length limit is cut, and so are the dots or dashes it would end on.
  const room = MaxNameLength - stamp.length - 1;
  return `${lab.slice(0, room).replace(/[-.]+$/, '')}-${stamp}`;
}

/** The MaasLabSnapshot `snapshot` creates; without `mode` the CRD's default applies. */
export function snapshotObject(
  namespace: string,
  lab: string,
  name: string,
  mode?: SnapshotMode,
): MaasLabSnapshot {
  return {
    apiVersion: GroupVersion,
    kind: MaasLabSnapshotKind,
    metadata: { name, namespace },
    spec: { lab, ...(mode === undefined ? {} : { mode }) },
  };
}

/**
 * A restore token for `now`: its RFC 3339 form without colons (`2026-12-05T163000.123Z`),
 * which spec.restoreFrom.token's pattern allows and which differs at every millisecond.
 */
export const restoreToken = (now: Date): string => now.toISOString().replace(/:/g, '');

/** The JSON merge patch `restore` sends. */
export function restorePatch(
  snapshot: string,
  token: string,
): { readonly spec: { readonly restoreFrom: { snapshot: string; token: string } } } {
  return { spec: { restoreFrom: { snapshot, token } } };
}

const conditionOf = (
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined => conditions?.find((c) => c.type === type);

/**
 * Where the capture of `snap` is: done once Ready and readyToUse, failed once Failed (the
 * message names the member), else waiting. A Stalled condition before Failed (the lab or
 * its Hypervisor missing) is shown and waited on: a human may still fix it.
 */
export function snapshotWaitState(snap: MaasLabSnapshot): WaitState {
  const s = snap.status;
  const name = snap.metadata?.name ?? '';
  const stalled = conditionOf(s?.conditions, StalledCondition);
  const reconciling = conditionOf(s?.conditions, ReconcilingCondition);
  const detail =
    stalled?.status === 'True'
      ? stalled.message
      : reconciling?.status === 'True'
        ? reconciling.message
        : undefined;
  const progress: Progress = definedProps({
    phase: s?.phase ?? 'Pending',
    done: s?.membersCaptured,
    total: s?.membersTotal,
    detail: detail || undefined,
  });
  if (s?.phase === 'Ready' && s.readyToUse === true) return { kind: 'done', progress };
  if (s?.phase === 'Failed') {
    const why = stalled?.message || 'the capture failed';
    const member =
      s.failedMember && !why.includes(s.failedMember) ? ` (member ${s.failedMember})` : '';
    return {
      kind: 'failed',
      progress,
      message: `maaslabsnapshot "${name}" failed: ${why}${member}`,
    };
  }
  return { kind: 'waiting', progress };
}

/**
 * Where the restore asked for with `token` is in `lab`: waiting until status.restore is for
 * that token, done once Completed, failed once Refused. A copy that failed is retried by
 * the operator and shown while waiting (`failedMember`).
 */
export function restoreWaitState(lab: MaasLab, token: string): WaitState {
  const r = lab.status?.restore;
  const name = lab.metadata?.name ?? '';
  if (!r || r.token !== token) {
    return {
      kind: 'waiting',
      progress: { phase: 'Pending', detail: 'waiting for the operator to start the restore' },
    };
  }
  const detail = [r.message, r.failedMember ? `failed member: ${r.failedMember}` : undefined]
    .filter((x) => !!x)
    .join('; ');
  const progress: Progress = definedProps({
    phase: r.phase,
    done: r.membersRestored,
    total: r.membersTotal,
    detail: detail || undefined,
  });
  if (r.phase === 'Completed') return { kind: 'done', progress };
  if (r.phase === 'Refused') {
    const stalled = conditionOf(lab.status?.conditions, StalledCondition);
    const why = r.message || stalled?.message || 'refused';
    return {
      kind: 'failed',
      progress,
      message: `maaslab "${name}" refused the restore from maaslabsnapshot "${r.snapshot}": ${why}`,
    };
  }
  return { kind: 'waiting', progress };
}

/** One row of `snapshots`. */
export interface SnapshotRow {
  readonly name: string;
  readonly mode: string;
  readonly phase?: string;
  /** status.readyToUse: `true` or `false`. */
  readonly ready?: string;
  /** Members captured/total, e.g. `3/3`. */
  readonly members?: string;
  readonly size?: string;
  readonly age?: string;
  /** Clean, CrashConsistent, or Mixed when members differ. */
  readonly consistency?: string;
  // -o wide
  readonly hypervisor?: string;
  /** When the capture completed (status.creationTime). */
  readonly created?: string;
  /** What the Stalled or Reconciling condition says, else the Ready condition. */
  readonly message?: string;
}

/** The members' consistency in one word: theirs when all agree, else Mixed. */
export function consistencyOf(snap: MaasLabSnapshot): string | undefined {
  const seen = new Set((snap.status?.members ?? []).map((m) => m.consistency));
  if (seen.size === 0) return undefined;
  return seen.size === 1 ? [...seen][0] : 'Mixed';
}

/**
 * When `snap` was created, in ms (0 when unknown). Typed as a Date, read from JSON as an
 * RFC 3339 string: either way through Date.
 */
const createdMs = (snap: MaasLabSnapshot): number => {
  const t = snap.metadata?.creationTimestamp;
  return t === undefined ? 0 : new Date(t).getTime() || 0;
};

/** The row of `snap`, its age counted up to `now`. */
export function snapshotRow(snap: MaasLabSnapshot, now: Date): SnapshotRow {
  const s = snap.status;
  const total = s?.membersTotal ?? (s?.phase === 'Ready' ? s.members?.length : undefined);
  const captured = s?.membersCaptured ?? (s?.phase === 'Ready' ? s.members?.length : undefined);
  const message = [StalledCondition, ReconcilingCondition, ReadyCondition]
    .map((t) => conditionOf(s?.conditions, t))
    .find((c) => c !== undefined && (c.type === ReadyCondition || c.status === 'True'))?.message;
  return definedProps({
    name: snap.metadata?.name ?? '',
    mode: snap.spec.mode ?? DefaultSnapshotMode,
    phase: s?.phase,
    ready: s?.readyToUse === undefined ? undefined : String(s.readyToUse),
    members: total === undefined ? undefined : `${captured ?? 0}/${total}`,
    size: s?.size,
    age: createdMs(snap) ? humanDuration(now.getTime() - createdMs(snap)) : undefined,
    consistency: consistencyOf(snap),
    hypervisor: s?.hypervisor,
    created: s?.creationTime,
    message: message || undefined,
  });
}

/** Oldest first, then by name. */
const byAge = (a: MaasLabSnapshot, b: MaasLabSnapshot): number =>
  createdMs(a) - createdMs(b) ||
  (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '', 'en', { numeric: true });

/** The rows of `snaps`, oldest first (then by name). */
export function snapshotRows(snaps: readonly MaasLabSnapshot[], now: Date): SnapshotRow[] {
  return [...snaps].sort(byAge).map((s) => snapshotRow(s, now));
}

/** The columns of `snapshots`. */
export const SnapshotHeaders = [
  'NAME',
  'MODE',
  'PHASE',
  'READY',
  'MEMBERS',
  'SIZE',
  'AGE',
  'CONSISTENCY',
] as const;
/** The columns `-o wide` adds. */
export const SnapshotWideHeaders = ['HYPERVISOR', 'CREATED', 'MESSAGE'] as const;

/** The `snapshots` table; `wide` adds hypervisor, completion time and message. */
export function renderSnapshotTable(rows: readonly SnapshotRow[], wide = false): string {
  const cells = rows.map((r) => [
    r.name,
    r.mode,
    r.phase,
    r.ready,
    r.members,
    r.size,
    r.age,
    r.consistency,
    ...(wide ? [r.hypervisor, r.created, r.message] : []),
  ]);
  return renderTable(wide ? [...SnapshotHeaders, ...SnapshotWideHeaders] : SnapshotHeaders, cells);
}

/** `snapshots -o json|yaml`: the objects, as `kubectl get -o json` lists them. */
export function snapshotList(snaps: readonly MaasLabSnapshot[]): {
  apiVersion: 'v1';
  kind: 'List';
  items: MaasLabSnapshot[];
  metadata: { resourceVersion: string };
} {
  const items = [...snaps].sort(byAge);
  return { apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } };
}
