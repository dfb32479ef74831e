import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { parse } from 'yaml';
import type { MaasLab, MaasNode } from '../../../src/api/v1alpha1/index.js';
import type { ConnectOptions, PluginApi } from '../../../src/plugin/api.js';
import { parseDuration, parseTarget } from '../../../src/plugin/args.js';
import { PluginError } from '../../../src/plugin/errors.js';
import { createPluginProgram, run, type PluginDeps } from '../../../src/plugin/program.js';
import { labNode, pxeNetwork, recipeLab, standalone, virshStatus } from './fixtures.js';

/** An in-memory PluginApi over a few objects, recording connections and patches. */
function fakeWorld(nodes: MaasNode[], lab?: MaasLab) {
  const connections: ConnectOptions[] = [];
  const patches: Array<[string, unknown]> = [];
  let out = '';
  let err = '';
  let clock = Date.parse('2026-12-04T10:00:00Z');
  /** Called on every sleep of --wait: the "operator" of the test. */
  let onSleep: (() => void) | undefined;
  const find = (name: string): MaasNode => {
    const n = nodes.find((x) => x.metadata?.name === name);
    if (!n) throw new PluginError(`maasnodes.maaslab.dev "${name}" not found in namespace "x"`);
    return n;
  };
  const api: PluginApi = {
    namespace: 'x',
    getNode: async (name) => structuredClone(find(name)),
    async patchNode(name, patch) {
      patches.push([name, patch]);
      const n = find(name);
      Object.assign(n.spec, (patch as { spec: object }).spec);
      n.metadata = { ...n.metadata, generation: (n.metadata?.generation ?? 1) + 1 };
      return structuredClone(n);
    },
    async getLab(name) {
      if (!lab || lab.metadata?.name !== name) throw new PluginError(`no lab ${name}`);
      return lab;
    },
    labChildren: async () => ({ networks: [pxeNetwork], nodes }),
    patchLab: async () => {
      throw new Error('not in this world');
    },
    getSnapshot: async (name) => {
      throw new PluginError(`no snapshot ${name}`);
    },
    labSnapshots: async () => [],
    createSnapshot: async () => {
      throw new Error('not in this world');
    },
    bearerAuthorization: async () => 'Bearer t0k3n',
    operatorPod: async () => undefined,
  };
  const deps: PluginDeps = {
    connect: (o) => (connections.push(o), api),
    stdout: (s) => void (out += s),
    stderr: (s) => void (err += s),
    now: () => new Date(clock),
    sleep: async (ms) => {
      clock += ms;
      onSleep?.();
    },
  };
  return {
    deps,
    connections,
    patches,
    out: () => out,
    err: () => err,
    set onSleep(f: () => void) {
      onSleep = f;
    },
  };
}

describe('plugin/program', () => {
  it('stop: sends the merge patch, prints what changed, honours -n/--context/--kubeconfig anywhere', async () => {
    const w = fakeWorld([standalone({ runStrategy: 'Always' })]);
    const code = await run(
      ['--context', 'c1', 'stop', 'n1', '-n', 'ns1', '--kubeconfig', '/k'],
      w.deps,
    );
    expect(code, w.err()).to.equal(0);
    expect(w.connections).to.deep.equal([{ kubeconfig: '/k', context: 'c1', namespace: 'ns1' }]);
    expect(w.patches).to.deep.equal([
      ['n1', { spec: { runStrategy: 'Halted', haltMode: 'Shutdown' } }],
    ]);
    expect(w.out()).to.equal(
      'maasnode.maaslab.dev/n1 stopped (runStrategy: Always -> Halted, haltMode: <unset> -> Shutdown)\n',
    );
  });

  it('a lab-owned node: exit 1, one error line, nothing patched; --force patches', async () => {
    const w = fakeWorld([labNode(1, virshStatus(1))]);
    expect(await run(['halt', 'recipe-node1', '--save'], w.deps)).to.equal(1);
    expect(w.err()).to.match(
      /^error: maasnode "recipe-node1" belongs to maaslab "recipe"[^\n]*\n$/,
    );
    expect(w.patches).to.deep.equal([]);
    expect(await run(['halt', 'recipe-node1', '--save', '--force'], w.deps)).to.equal(0);
    expect(w.patches).to.deep.equal([
      ['recipe-node1', { spec: { runStrategy: 'Halted', haltMode: 'Save' } }],
    ]);
  });

  it('--wait polls until Running and Ready at the new generation; times out with exit 1', async () => {
    const node = { ...standalone({ runStrategy: 'Halted' }), status: virshStatus(1) };
    const w = fakeWorld([node]);
    let polls = 0;
    w.onSleep = () => {
      if (++polls === 3) node.status = { ...virshStatus(1), observedGeneration: 2 };
      node.status!.conditions![0]!.observedGeneration = node.status!.observedGeneration!;
    };
    expect(await run(['start', 'n1', '--wait'], w.deps), w.err()).to.equal(0);
    expect(polls).to.equal(3);
    expect(w.out()).to.match(/condition met\n$/);

    const stuck = fakeWorld([standalone({ runStrategy: 'Always' })]);
    expect(await run(['stop', 'n1', '--wait', '--timeout', '5s'], stuck.deps)).to.equal(1);
    expect(stuck.err()).to.match(/^error: timed out after 5s waiting for maasnode "n1"/);
  });

  it('power-params: a table, one JSON object for a node, a YAML list for lab/LAB', async () => {
    const w = fakeWorld([labNode(1, virshStatus(1))], recipeLab);
    expect(await run(['power-params', 'recipe-node1'], w.deps)).to.equal(0);
    expect(w.out()).to.match(/^NAME +POWER-TYPE +ADDRESS +ID\/NODE-ID +USER\nrecipe-node1 +virsh/);
    const json = fakeWorld([labNode(1, virshStatus(1))], recipeLab);
    await run(['power-params', 'recipe-node1', '-o', 'json'], json.deps);
    expect(JSON.parse(json.out())).to.include({
      power_type: 'virsh',
      power_id: 'lab-ns.recipe-node1',
    });
    const yaml = fakeWorld([labNode(1, virshStatus(1))], recipeLab);
    expect(await run(['power-params', 'lab/recipe', '-o', 'yaml'], yaml.deps)).to.equal(0);
    expect(parse(yaml.out())).to.be.an('array').with.length(1);
  });

  it('get LAB prints the tree; -o json the structure', async () => {
    const w = fakeWorld([labNode(1, virshStatus(1))], recipeLab);
    expect(await run(['get', 'recipe'], w.deps)).to.equal(0);
    expect(w.out()).to.match(/\n {3}└─ maasnode\/recipe-node1 +Running +True +52:54:00:7f:04:01/);
    const j = fakeWorld([labNode(1, virshStatus(1))], recipeLab);
    await run(['get', 'recipe', '-o', 'json'], j.deps);
    expect(JSON.parse(j.out())).to.have.nested.property(
      'networks[0].nodes[0].mac',
      '52:54:00:7f:04:01',
    );
  });

  it('--help works for the program and every verb, exit 0', async () => {
    for (const args of [
      ['--help'],
      ...[
        'start',
        'stop',
        'restart',
        'halt',
        'power-params',
        'get',
        'snapshot',
        'restore',
        'snapshots',
        'completion',
      ].map((v) => [v, '--help']),
    ]) {
      const w = fakeWorld([]);
      expect(await run(args, w.deps), args.join(' ')).to.equal(0);
      expect(w.out()).to.match(/^Usage: kubectl-maaslab/);
    }
  });

  it('bad usage: exit 1 with an error line (unknown verb, bad -o, missing node)', async () => {
    for (const args of [['frob'], ['get', 'x', '-o', 'xml'], ['start'], ['power-params']]) {
      const w = fakeWorld([]);
      expect(await run(args, w.deps), args.join(' ')).to.equal(1);
      expect(w.err(), args.join(' ')).to.match(/^error: /);
    }
  });

  it('parses durations and power-params targets', () => {
    expect(parseDuration('1m30s')).to.equal(90_000);
    expect(parseDuration('500ms')).to.equal(500);
    expect(() => parseDuration('5 minutes')).to.throw(/not a duration/);
    expect(parseTarget('n1', undefined)).to.deep.equal({ kind: 'node', name: 'n1' });
    expect(parseTarget('maasnode/n1', undefined)).to.deep.equal({ kind: 'node', name: 'n1' });
    expect(parseTarget('lab/recipe', undefined)).to.deep.equal({ kind: 'lab', name: 'recipe' });
    expect(parseTarget(undefined, 'recipe')).to.deep.equal({ kind: 'lab', name: 'recipe' });
    expect(() => parseTarget('n1', 'recipe')).to.throw(PluginError);
    expect(() => parseTarget('pod/x', undefined)).to.throw(PluginError);
  });
});

describe('plugin/completion', () => {
  const script = async (shell: string): Promise<string> => {
    const w = fakeWorld([]);
    expect(await run(['completion', shell], w.deps)).to.equal(0);
    return w.out();
  };
  const verbs = createPluginProgram(fakeWorld([]).deps).commands.map((c) => c.name());

  it('the bash script names every verb and every flag of each', async () => {
    const bash = await script('bash');
    expect(verbs).to.deep.equal([
      'start',
      'stop',
      'restart',
      'halt',
      'power-params',
      'get',
      'snapshot',
      'restore',
      'snapshots',
      'console',
      'vnc',
      'completion',
    ]);
    for (const v of verbs) expect(bash).to.contain(`    ${v})`);
    for (const f of [
      '--force',
      '--wait',
      '--timeout',
      '--save',
      '--lab',
      '--output',
      '--mode',
      '--no-wait',
      '-n',
      '--namespace',
      '--context',
      '--kubeconfig',
    ]) {
      expect(bash).to.contain(f);
    }
    expect(bash).to.contain('complete -F _kubectl_maaslab kubectl-maaslab');
  });

  it('bash completes verbs, flags and -o values (run in bash)', async () => {
    const bash = await script('bash');
    const complete = (...words: string[]): string =>
      execFileSync(
        'bash',
        [
          '--norc',
          '-c',
          `${bash}\nCOMP_WORDS=(${words.map((x) => `'${x}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _kubectl_maaslab; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] },
      ).trim();
    expect(complete('kubectl-maaslab', 'st')).to.equal('start stop');
    expect(complete('kubectl-maaslab', '-n', 'ns', 'halt', 'n1', '--s')).to.equal('--save');
    expect(complete('kubectl-maaslab', 'get', 'recipe', '-o', '')).to.equal('wide json yaml');
    expect(complete('kubectl-maaslab', 'completion', '')).to.equal('bash zsh');
  });

  it('the zsh script loads the same function through bashcompinit', async () => {
    const zsh = await script('zsh');
    expect(zsh).to.match(/^#compdef kubectl-maaslab\n/);
    expect(zsh).to.contain('autoload -U +X bashcompinit && bashcompinit');
    for (const v of verbs) expect(zsh).to.contain(`    ${v})`);
  });

  it('refuses another shell, exit 1', async () => {
    const w = fakeWorld([]);
    expect(await run(['completion', 'fish'], w.deps)).to.equal(1);
    expect(w.err()).to.equal("error: unsupported shell 'fish': use bash or zsh\n");
  });
});
