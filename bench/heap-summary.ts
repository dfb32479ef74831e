// Reads V8 .heapsnapshot files (bench/scale.ts with BENCH_HEAP_SNAPSHOT) and says what holds
// the memory: self size and retained size grouped by constructor (retained as DevTools counts
// it: a group's instances that no other instance of the same group dominates), and the objects
// that retain the most with their dominator chain from the root. With two files, a diff by
// group (second minus first).
//
//   tsx bench/heap-summary.ts <a.heapsnapshot> [<b.heapsnapshot>] [rows]
import { readFileSync } from 'node:fs';

interface Snapshot {
  readonly snapshot: {
    readonly meta: {
      readonly node_fields: string[];
      readonly node_types: [string[], ...unknown[]];
      readonly edge_fields: string[];
      readonly edge_types: [string[], ...unknown[]];
    };
    readonly node_count: number;
  };
  readonly nodes: number[];
  readonly edges: number[];
  readonly strings: string[];
}

/** One snapshot, with the dominator tree computed. */
export interface Heap {
  readonly count: number;
  readonly group: (i: number) => string;
  readonly selfSize: Float64Array;
  readonly retained: Float64Array;
  readonly idom: Int32Array;
}

export function loadHeap(path: string): Heap {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const nodeTypes = s.snapshot.meta.node_types[0];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const [N, E] = [nf.length, ef.length];
  const [nType, nName, nSelf, nEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) =>
    nf.indexOf(f),
  ) as [number, number, number, number];
  const [eType, eTo] = [ef.indexOf('type'), ef.indexOf('to_node')];
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const count = s.nodes.length / N;
  const firstEdge = new Int32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += s.nodes[i * N + nEdges]! * E;
  }
  firstEdge[count] = s.edges.length;
  const selfSize = new Float64Array(count);
  for (let i = 0; i < count; i++) selfSize[i] = s.nodes[i * N + nSelf]!;
  const group = (i: number): string => {
    const type = nodeTypes[s.nodes[i * N + nType]!]!;
    const name = s.strings[s.nodes[i * N + nName]!]!;
    if (type === 'object' || type === 'native') return name.split(' ')[0]!.slice(0, 60);
    if (type === 'closure') return `closure ${name || '(anonymous)'}`.slice(0, 60);
    if (type === 'hidden' || type === 'code' || type === 'synthetic')
      return `(${type}) ${name}`.slice(0, 60);
    return `(${type})`;
  };
  const succ = (i: number, visit: (j: number) => void): void => {
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += E) {
      const t = s.edges[e + eType]!;
      if (t === weak || t === shortcut) continue;
      visit(s.edges[e + eTo]! / N);
    }
  };
  // Post-order from the root (node 0), iterative.
  const order = new Int32Array(count).fill(-1);
  const post: number[] = [];
  const seen = new Uint8Array(count);
  const stack: number[] = [0];
  const childrenOf: number[][] = [];
  seen[0] = 1;
  const kids = (i: number): number[] => {
    const out: number[] = [];
    succ(i, (j) => out.push(j));
    return out;
  };
  const cursor: number[] = [0];
  childrenOf.push(kids(0));
  while (stack.length) {
    const top = stack.length - 1;
    const list = childrenOf[top]!;
    if (cursor[top]! < list.length) {
      const j = list[cursor[top]!++]!;
      if (!seen[j]) {
        seen[j] = 1;
        stack.push(j);
        childrenOf.push(kids(j));
        cursor.push(0);
      }
    } else {
      order[stack[top]!] = post.length;
      post.push(stack[top]!);
      stack.pop();
      childrenOf.pop();
      cursor.pop();
    }
  }
  // Predecessors, for the reachable nodes only.
  const preds: number[][] = Array.from({ length: count }, () => []);
  for (const i of post) succ(i, (j) => preds[j]!.push(i));
  // Cooper, Harvey and Kennedy's iterative dominators over the reverse post-order.
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while (order[a]! < order[b]!) a = idom[a]!;
      while (order[b]! < order[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let k = post.length - 2; k >= 0; k--) {
      const b = post[k]!;
      let d = -1;
      for (const p of preds[b]!) {
        if (idom[p] === -1) continue;
        d = d === -1 ? p : intersect(p, d);
      }
      if (d !== -1 && idom[b] !== d) {
        idom[b] = d;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(count);
  // Post-order: a node's dominated nodes come before it, so their sums are complete.
  for (const i of post) retained[i] = retained[i]! + selfSize[i]!;
  for (const i of post) if (i !== 0) retained[idom[i]!] = retained[idom[i]!]! + retained[i]!;
  return { count, group, selfSize, retained, idom };
}

/** Per group: instances, self bytes, retained bytes (outermost instances only). */
export function byGroup(h: Heap): Map<string, { n: number; self: number; retained: number }> {
  const out = new Map<string, { n: number; self: number; retained: number }>();
  for (let i = 1; i < h.count; i++) {
    if (h.idom[i] === -1) continue;
    const g = h.group(i);
    const row = out.get(g) ?? { n: 0, self: 0, retained: 0 };
    row.n++;
    row.self += h.selfSize[i]!;
    let outer = true;
    for (let d = h.idom[i]!; d !== 0; d = h.idom[d]!) {
      if (h.group(d) === g) {
        outer = false;
        break;
      }
    }
    if (outer) row.retained += h.retained[i]!;
    out.set(g, row);
  }
  return out;
}

const mb = (x: number): string => (x / 2 ** 20).toFixed(2);

interface AllocNode {
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly AllocNode[];
}

/**
 * A .heapprofile (V8's sampling heap profiler, bench/alloc-profile.mjs: garbage included):
 * bytes allocated per function (self) and per function with its callees (total), with the
 * caller chain of the largest sites.
 */
export function allocSites(path: string): {
  total: number;
  self: Map<string, number>;
  inclusive: Map<string, number>;
  stacks: Map<string, number>;
  ours: Map<string, number>;
} {
  const root = (JSON.parse(readFileSync(path, 'utf8')) as { head: AllocNode }).head;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const stacks = new Map<string, number>();
  // Each sample charged to the innermost frame of the operator's own code (dist/src), with
  // its caller: which of our calls the bytes were allocated under.
  const ours = new Map<string, number>();
  const name = (n: AllocNode): string => {
    const url = n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/');
    return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
  };
  let total = 0;
  const walk = (n: AllocNode, path: string[]): number => {
    const here = [...path, name(n)];
    let sum = n.selfSize;
    for (const c of n.children) sum += walk(c, here);
    total += n.selfSize;
    self.set(here.at(-1)!, (self.get(here.at(-1)!) ?? 0) + n.selfSize);
    // A recursive function counts once per stack.
    if (!path.includes(here.at(-1)!))
      inclusive.set(here.at(-1)!, (inclusive.get(here.at(-1)!) ?? 0) + sum);
    if (n.selfSize > 0) {
      const key = here.slice(-6).join(' < ');
      stacks.set(key, (stacks.get(key) ?? 0) + n.selfSize);
      const own =
        here
          .filter((f) => f.includes(' dist/src/'))
          .slice(-2)
          .join(' < ') || '(none)';
      ours.set(own, (ours.get(own) ?? 0) + n.selfSize);
    }
    return sum;
  };
  walk(root, []);
  return { total, self, inclusive, stacks, ours };
}

function mainAlloc(files: string[], rows: number): void {
  for (const f of files) {
    const a = allocSites(f);
    const top = (m: Map<string, number>): string[] =>
      [...m]
        .sort((x, y) => y[1] - x[1])
        .slice(0, rows)
        .map(([k, v]) => `${mb(v)} | ${((100 * v) / a.total).toFixed(1)} % | ${k}`);
    console.log(`\n${f}: ${mb(a.total)} MB allocated (sampled)\n\nself MB | share | function`);
    console.log(top(a.self).join('\n'));
    console.log('\ntotal MB | share | function (with callees)');
    console.log(top(a.inclusive).join('\n'));
    console.log("\nMB | share | innermost frames of the operator's code (caller < callee)");
    console.log(top(a.ours).join('\n'));
    console.log('\nself MB | share | stack (innermost last)');
    console.log(top(a.stacks).join('\n'));
  }
}

function main(): void {
  const profiles = process.argv.slice(2).filter((a) => a.endsWith('.heapprofile'));
  if (profiles.length) {
    mainAlloc(profiles, Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 30));
    return;
  }
  const files = process.argv.slice(2).filter((a) => a.endsWith('.heapsnapshot'));
  const rows = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 30);
  const heaps = files.map(loadHeap);
  const groups = heaps.map(byGroup);
  heaps.forEach((h, k) => {
    const g = groups[k]!;
    console.log(`\n${files[k]}: ${h.count} nodes, live ${mb(h.retained[0]!)} MB`);
    console.log('retained MB | self MB | count | group');
    for (const [name, r] of [...g].sort((a, b) => b[1].retained - a[1].retained).slice(0, rows)) {
      console.log(`${mb(r.retained)} | ${mb(r.self)} | ${r.n} | ${name}`);
    }
    console.log('\nlargest single retainers (retained MB, dominator chain):');
    const idx = [...Array(h.count).keys()].filter((i) => i !== 0 && h.idom[i] !== -1);
    idx.sort((a, b) => h.retained[b]! - h.retained[a]!);
    for (const i of idx.slice(0, rows)) {
      const chain: string[] = [];
      for (let d = i; d !== 0 && chain.length < 8; d = h.idom[d]!) chain.push(h.group(d));
      console.log(`${mb(h.retained[i]!)} | ${chain.join(' <- ')}`);
    }
  });
  if (groups.length === 2) {
    const [a, b] = groups as [(typeof groups)[0], (typeof groups)[0]];
    const names = new Set([...a.keys(), ...b.keys()]);
    const diff = [...names].map((n) => {
      const [x, y] = [a.get(n), b.get(n)];
      return { n, self: (y?.self ?? 0) - (x?.self ?? 0), count: (y?.n ?? 0) - (x?.n ?? 0) };
    });
    console.log('\nself size, second minus first (MB, count):');
    for (const d of diff.sort((p, q) => Math.abs(q.self) - Math.abs(p.self)).slice(0, rows)) {
      console.log(`${mb(d.self)} | ${d.count} | ${d.n}`);
    }
  }
}

if (process.argv[1]?.endsWith('heap-summary.ts')) main();
