// Preloaded into the operator by bench/scale.ts (BENCH_ALLOC_PROFILE=<dir>, `--import`): V8's
// sampling heap profiler counting every sampled allocation, garbage included (what makes the
// heap grow between collections), not only what is still live. The first SIGUSR2 starts it,
// the second writes <dir>/<pid>.heapprofile. BENCH_ALLOC_PROFILE_KIND=promoted leaves out what
// scavenges collect: what was left is what survived the young generation, i.e. what was promoted
// to the old space (where only a mark-compact frees it) or is still live. Plain JS: it runs
// before any loader.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.BENCH_ALLOC_PROFILE;
const session = new Session();
session.connect();
let running = false;
process.on('SIGUSR2', () => {
  if (!running) {
    running = true;
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: process.env.BENCH_ALLOC_PROFILE_KIND !== 'promoted',
    });
    return;
  }
  // For `promoted`, one scavenge first (bench/scale.ts adds --expose-gc then): what is still
  // in the young generation when sampling stops would otherwise count as survived.
  if (process.env.BENCH_ALLOC_PROFILE_KIND === 'promoted') globalThis.gc?.({ type: 'minor' });
  session.post('HeapProfiler.stopSampling', (err, res) => {
    if (err) throw err;
    writeFileSync(join(dir, `${process.pid}.heapprofile`), JSON.stringify(res.profile));
  });
});
