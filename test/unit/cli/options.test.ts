import { expect } from 'chai';
import {
  DEFAULT_NAMESPACE,
  parseDuration,
  parseHypervisors,
  parseRunArgs,
} from '../../../src/cli/options.js';

describe('cli/options', () => {
  describe('run defaults', () => {
    it('match controller-runtime and the issue (10 workers: nodes reconcile concurrently)', async () => {
      const o = await parseRunArgs(['run']);
      expect(o).to.deep.equal({
        hypervisors: { all: true },
        leaderElect: false,
        namespace: DEFAULT_NAMESPACE,
        metricsBindAddress: ':8080',
        metricsSecure: true,
        healthProbeBindAddress: ':8081',
        consoleBindAddress: '',
        maxConcurrentReconciles: 10,
        logLevel: 'info',
        logFormat: 'json',
        resyncPeriodMs: 600_000,
        libvirtConnectTimeoutMs: 20_000,
        reconcileTimeoutMs: 300_000,
      });
    });

    it('--console-bind-address: host:port, or empty to disable; a bare port or garbage is refused', async () => {
      expect(
        (await parseRunArgs(['run', '--console-bind-address', '127.0.0.1:8082']))
          .consoleBindAddress,
      ).to.equal('127.0.0.1:8082');
      expect(
        (await parseRunArgs(['run', '--console-bind-address', '[::1]:0'])).consoleBindAddress,
      ).to.equal('[::1]:0');
      expect((await parseRunArgs(['run', '--console-bind-address='])).consoleBindAddress).to.equal(
        '',
      );
      for (const bad of [':8082', '8082', 'localhost', 'a:b', '127.0.0.1:99999', '0']) {
        let err: unknown;
        await parseRunArgs(['run', '--console-bind-address', bad]).catch((e: unknown) => (err = e));
        expect(err, bad).to.be.instanceOf(Error);
      }
    });

    it('take the namespace from the service account file, trimmed', async () => {
      const o = await parseRunArgs(['run'], { serviceAccountNamespace: 'ops\n' });
      expect(o.namespace).to.equal('ops');
    });

    it('let --namespace win over the service account', async () => {
      const o = await parseRunArgs(['run', '--namespace', 'x'], { serviceAccountNamespace: 'ops' });
      expect(o.namespace).to.equal('x');
    });
  });

  it('parses every flag', async () => {
    const o = await parseRunArgs([
      'run',
      '--kubeconfig',
      '/tmp/k',
      '--context',
      'lab',
      '--hypervisors',
      'hv1,hv2',
      '--leader-elect',
      '--metrics-bind-address',
      '127.0.0.1:0',
      '--metrics-cert-path',
      '/etc/metrics-tls',
      '--metrics-cert-name',
      'cert.pem',
      '--metrics-cert-key',
      'key.pem',
      '--health-probe-bind-address',
      '0',
      '--max-concurrent-reconciles',
      '4',
      '--log-level',
      'debug',
      '--log-format',
      'text',
      '--resync-period',
      '1m30s',
      '--libvirt-connect-timeout',
      '5s',
      '--reconcile-timeout',
      '2m',
    ]);
    expect(o).to.deep.include({
      kubeconfig: '/tmp/k',
      context: 'lab',
      hypervisors: { all: false, names: ['hv1', 'hv2'] },
      leaderElect: true,
      metricsBindAddress: '127.0.0.1:0',
      metricsSecure: true,
      metricsCertificate: { dir: '/etc/metrics-tls', certName: 'cert.pem', keyName: 'key.pem' },
      healthProbeBindAddress: '0',
      maxConcurrentReconciles: 4,
      logLevel: 'debug',
      logFormat: 'text',
      resyncPeriodMs: 90_000,
      libvirtConnectTimeoutMs: 5_000,
      reconcileTimeoutMs: 120_000,
    });
  });

  for (const bad of [
    ['--log-format', 'yaml'],
    ['--log-level', 'trace'],
    ['--max-concurrent-reconciles', '0'],
    ['--metrics-bind-address', 'localhost'],
    ['--resync-period', '10'],
    ['--reconcile-timeout', '0s'],
    ['--hypervisors', 'all,hv1'],
    ['--unknown'],
    // Plain HTTP is for loopback only: every interface, a pod address, the unspecified ones.
    ['--metrics-secure=false'],
    ['--metrics-secure=false', '--metrics-bind-address', ':8080'],
    ['--metrics-secure=false', '--metrics-bind-address', '10.0.0.5:8080'],
    ['--metrics-secure=false', '--metrics-bind-address', '0.0.0.0:8080'],
    ['--metrics-secure=false', '--metrics-bind-address', '[::]:8080'],
    ['--metrics-secure=false', '--metrics-bind-address', 'localhost.example.com:8080'],
    ['--metrics-secure', 'maybe'],
    [
      '--metrics-secure=false',
      '--metrics-bind-address',
      '127.0.0.1:0',
      '--metrics-cert-path',
      '/x',
    ],
    ['--metrics-cert-name', '../etc/passwd'],
    ['--metrics-cert-key', '..'],
  ]) {
    it(`rejects ${bad.join(' ')}`, async () => {
      let error: unknown;
      await parseRunArgs(['run', ...bad]).catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(Error);
    });
  }

  describe('--metrics-secure', () => {
    it('is on by default and alone, off with =false or a separate false, on loopback only', async () => {
      expect((await parseRunArgs(['run'])).metricsSecure).to.equal(true);
      expect((await parseRunArgs(['run', '--metrics-secure'])).metricsSecure).to.equal(true);
      expect((await parseRunArgs(['run', '--metrics-secure=true'])).metricsSecure).to.equal(true);
      for (const addr of ['127.0.0.1:8080', '127.9.9.9:1', '[::1]:8080', 'localhost:8080', '0']) {
        const off = await parseRunArgs([
          'run',
          '--metrics-bind-address',
          addr,
          '--metrics-secure=false',
        ]);
        expect(off.metricsSecure, addr).to.equal(false);
        expect(off.metricsBindAddress, addr).to.equal(addr);
      }
      const spaced = await parseRunArgs([
        'run',
        '--metrics-secure',
        'false',
        '--metrics-bind-address',
        '127.0.0.1:9',
      ]);
      expect(spaced.metricsSecure).to.equal(false);
    });

    it('says why plain HTTP on every interface is refused', async () => {
      let error: unknown;
      await parseRunArgs(['run', '--metrics-secure=false']).catch((e: unknown) => (error = e));
      expect((error as Error).message)
        .to.contain('without authentication')
        .and.contain('127.0.0.1:8080');
    });
  });

  describe('parseHypervisors', () => {
    it('reads all, and trims lists', () => {
      expect(parseHypervisors('all')).to.deep.equal({ all: true });
      expect(parseHypervisors(' a, b.c ,')).to.deep.equal({ all: false, names: ['a', 'b.c'] });
    });
    it('refuses invalid names, duplicates and empty lists', () => {
      for (const v of ['Hv', 'a,a', ',', '-a', 'a_b']) {
        expect(() => parseHypervisors(v), v).to.throw();
      }
    });
  });

  describe('parseDuration', () => {
    it('reads Go durations', () => {
      expect(parseDuration('10m')).to.equal(600_000);
      expect(parseDuration('500ms')).to.equal(500);
      expect(parseDuration('1h2m3s')).to.equal(3_723_000);
      expect(parseDuration('1.5s')).to.equal(1500);
    });
    it('refuses bare numbers, zero and junk', () => {
      for (const v of ['', '10', '0s', '5d', '1m x']) expect(() => parseDuration(v), v).to.throw();
    });
  });

  describe('--register-hypervisor', () => {
    it('is off by default', async () => {
      expect((await parseRunArgs(['run'])).registerHypervisor).to.equal(undefined);
    });

    it('registers the one --hypervisors name with qemu:///system', async () => {
      const o = await parseRunArgs(['run', '--hypervisors', 'node-1', '--register-hypervisor']);
      expect(o.registerHypervisor).to.deep.equal({ name: 'node-1', uri: 'qemu:///system' });
    });

    it('takes NODE_NAME with --hypervisors all, and --register-uri', async () => {
      const o = await parseRunArgs(
        ['run', '--register-hypervisor', '--register-uri', 'test:///default'],
        { nodeName: 'node-2' },
      );
      expect(o.registerHypervisor).to.deep.equal({ name: 'node-2', uri: 'test:///default' });
    });

    it('accepts NODE_NAME equal to the --hypervisors name', async () => {
      const o = await parseRunArgs(['run', '--hypervisors', 'n', '--register-hypervisor'], {
        nodeName: 'n',
      });
      expect(o.registerHypervisor?.name).to.equal('n');
    });

    it('refuses several names, a name other than NODE_NAME, or no name at all', async () => {
      const fails = async (argv: string[], nodeName?: string): Promise<string> => {
        try {
          await parseRunArgs(argv, nodeName === undefined ? {} : { nodeName });
        } catch (err) {
          return (err as Error).message;
        }
        throw new Error(`${argv.join(' ')} was accepted`);
      };
      expect(await fails(['run', '--hypervisors', 'a,b', '--register-hypervisor'])).to.match(
        /one name/,
      );
      expect(await fails(['run', '--hypervisors', 'a', '--register-hypervisor'], 'b')).to.match(
        /differs from NODE_NAME/,
      );
      expect(await fails(['run', '--register-hypervisor'])).to.match(/NODE_NAME/);
      expect(await fails(['run', '--register-hypervisor'], 'Not_A_Name')).to.match(
        /not a valid Hypervisor name/,
      );
      expect(await fails(['run', '--register-uri', 'no uri'])).to.match(/not a libvirt URI/);
    });
  });
});
