// The OCI image that `make image` builds without a registry or a container engine
// (hack/build-image.sh: mmdebstrap, the pinned node, the staged app, umoci) against the
// Dockerfile it stands in for: the same user, working directory, environment, entry point
// and ports (the Dockerfile's runtime stage, read by test/support/dockerfile.ts), the same
// /app layout (what hack/stage-image.sh makes, which the Dockerfile copies to /app), and a
// run of the entry point as 65532 in the image's own root file system (umoci unpack, then
// chroot), which loads node, the app and the addon with the image's libvirt0.
//
// The build is cached by a hash of its inputs: a cold one (mmdebstrap) takes minutes, a warm
// one a second. The test builds it when it must; it is skipped only where the build cannot
// run at all (not root, or no apt-get to install mmdebstrap and umoci).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { repoRoot } from '../../support/controlplane.js';
import { appLayoutProblems, runtimeStage } from '../../support/image.js';
import { type LayerEntry, type OciArchive, openOciArchive } from '../../support/oci-archive.js';

const run = promisify(execFile);
const archivePath = join(repoRoot, 'build', 'image', 'maaslab-operator.oci.tar');
const uid = 65532;

async function canBuild(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'hack/build-image.sh needs root (mmdebstrap, chroot)';
  const tools = await run('sh', ['-c', 'command -v umoci && command -v mmdebstrap']).then(
    () => true,
    () => false,
  );
  const apt = await run('sh', ['-c', 'command -v apt-get']).then(
    () => true,
    () => false,
  );
  return tools || apt ? undefined : 'neither mmdebstrap and umoci nor apt-get to install them';
}

/** The packages dpkg's status file lists as installed, with their versions. */
function installedPackages(status: string): Map<string, string> {
  const installed = new Map<string, string>();
  for (const stanza of status.split(/\n\n+/)) {
    const field = (name: string): string | undefined =>
      new RegExp(`^${name}: (.*)$`, 'm').exec(stanza)?.[1];
    const name = field('Package');
    const version = field('Version');
    if (name && version && field('Status') === 'install ok installed') installed.set(name, version);
  }
  return installed;
}

describe('the OCI image of make image (hack/build-image.sh) against the Dockerfile', function () {
  // A cold build: mmdebstrap, tsc, npm ci, gzip of ~100 MB, on two cores.
  this.timeout(30 * 60_000);
  let oci: OciArchive;
  let layers: LayerEntry[][];
  let bundle: string | undefined;
  let packages: Map<string, string> | undefined;
  const installed = async (): Promise<Map<string, string>> =>
    (packages ??= installedPackages(await oci.fileOf(0, 'var/lib/dpkg/status')));

  before(async function () {
    const why = await canBuild();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    // umoci unpacks the image below even when the build is a cache hit, which needs no tool.
    await run(join(repoRoot, 'hack', 'build-image.sh'), ['tools'], { cwd: repoRoot });
    const started = Date.now();
    const { stdout, stderr } = await run(join(repoRoot, 'hack', 'build-image.sh'), [], {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
    const cached = /image: cached/.test(stderr);
    console.log(
      `      ${cached ? 'cached' : 'built'} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    console.log(stdout.replace(/^/gm, '      ').trimEnd());
    oci = await openOciArchive(archivePath);
    layers = await oci.layers();
  });
  after(async () => {
    if (bundle) await rm(bundle, { recursive: true, force: true });
  });

  it('is one linux/amd64 image of three gzip layers (rootfs, node, app), named as deploy/ names it', () => {
    expect(oci.index.manifests).to.have.length(1);
    const annotations = oci.index.manifests[0]!.annotations ?? {};
    expect(annotations['io.containerd.image.name']).to.match(
      /^ghcr\.io\/maaslab\/maaslab-operator:\d+\.\d+\.\d+$/,
    );
    expect(annotations['org.opencontainers.image.ref.name']).to.match(/^\d+\.\d+\.\d+$/);
    expect(oci.config.os).to.equal('linux');
    expect(oci.config.architecture).to.equal('amd64');
    expect(oci.manifest.layers.map((l) => l.mediaType)).to.deep.equal(
      Array(3).fill('application/vnd.oci.image.layer.v1.tar+gzip'),
    );
    expect(oci.config.rootfs.diff_ids).to.have.length(3);
  });

  it("has the Dockerfile's USER, WORKDIR, ENV, ENTRYPOINT, CMD and EXPOSE", async () => {
    const want = await runtimeStage();
    const c = oci.config.config;
    expect(c.User).to.equal(want.user);
    expect(c.WorkingDir).to.equal(want.workingDir);
    expect(c.Entrypoint).to.deep.equal(want.entrypoint);
    expect(c.Cmd).to.deep.equal(want.cmd);
    expect(Object.keys(c.ExposedPorts ?? {}).sort()).to.deep.equal([...want.exposedPorts].sort());
    // Every variable the Dockerfile sets, and what node:24-slim gives besides: PATH (its
    // NODE_VERSION and YARN_VERSION describe that image's own contents, not ours).
    const env = Object.fromEntries(
      (c.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    const { PATH, ...rest } = env;
    expect(rest).to.deep.equal(want.env);
    expect(PATH!.split(':')).to.include('/usr/local/bin');
    expect(c.Labels?.['org.opencontainers.image.version']).to.equal(
      (JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
        .version,
    );
  });

  it('has user maaslab (65532) with its home, as the Dockerfile useradd makes it', async () => {
    const passwd = await oci.fileOf(0, 'etc/passwd');
    expect(passwd).to.include(`maaslab:x:${uid}:${uid}::/home/maaslab:/usr/sbin/nologin\n`);
    expect(await oci.fileOf(0, 'etc/group')).to.include(`maaslab:x:${uid}:\n`);
    const home = layers[0]!.find((e) => e.path === 'home/maaslab');
    expect(home).to.include({ type: 'd', uid, gid: uid });
  });

  it("holds under /app exactly what hack/stage-image.sh stages (the Dockerfile's COPY --from=build /stage/ /app/), owned by root", async () => {
    const want = await runtimeStage();
    expect(want.copies).to.deep.equal([{ from: 'build', sources: ['/stage/'], dest: '/app/' }]);
    // /app comes from the app layer only; the rootfs has the empty WORKDIR.
    expect(layers[0]!.filter((e) => e.path.startsWith('app/'))).to.deep.equal([]);
    expect(layers[1]!.map((e) => e.path)).to.deep.equal(['usr/local/bin/node']);
    const app = layers[2]!;
    expect(app.filter((e) => e.path !== 'app' && !e.path.startsWith('app/'))).to.deep.equal([]);
    expect(app.filter((e) => e.uid !== 0 || e.gid !== 0)).to.deep.equal([]);
    const paths = app
      .filter((e) => e.path.startsWith('app/'))
      .map((e) => e.path.slice('app/'.length));
    const { stdout } = await run('find', ['src', '-type', 'f'], { cwd: repoRoot });
    expect(await appLayoutProblems(paths, stdout.trim().split('\n'))).to.deep.equal([]);
  });

  it("holds Debian's Essential set and the runtime packages only: no apt, no perl beyond perl-base, no usrmerge", async () => {
    const packages = await installed();
    for (const p of ['libvirt0', 'openssh-client', 'ca-certificates', 'libstdc++6', 'perl-base'])
      expect(packages.has(p), p).to.equal(true);
    const unwanted = [...packages.keys()].filter(
      (p) =>
        /^(apt|apt-utils|perl|perl-modules-.*|usrmerge|man-db|locales)$/.test(p) || /-doc$/.test(p),
    );
    expect(unwanted).to.deep.equal([]);
    const rootfs = layers[0]!.map((e) => e.path);
    expect(rootfs).to.not.include('usr/bin/apt-get');
    // perl-base is Essential (dpkg's maintainer scripts); its modules are not.
    expect(rootfs.filter((p) => p.startsWith('usr/share/perl/'))).to.deep.equal([]);
  });

  it('is trimmed: no document but copyrights, no man page, locale, completion or gconv module, no apt lists or cache', () => {
    // Content only: dpkg keeps the (empty) directories a path-include pattern could still
    // match under, and symbolic links carry no bytes. The install-info trigger writes the
    // info index, usr/share/info/dir, whatever is excluded.
    const content = layers[0]!.filter((e) => e.type === '-' || e.type === 'h');
    const bad = content
      .map((e) => e.path)
      .filter(
        (p) =>
          (p.startsWith('usr/share/doc/') && !/^usr\/share\/doc\/[^/]+\/copyright$/.test(p)) ||
          /^usr\/share\/(man|locale|lintian|bash-completion)\//.test(p) ||
          /^usr\/lib\/[^/]+\/gconv\//.test(p) ||
          (p.startsWith('usr/share/info/') && p !== 'usr/share/info/dir') ||
          p.startsWith('var/cache/apt/') ||
          p.startsWith('var/log/'),
      );
    expect(bad).to.deep.equal([]);
    const lists = content.filter((e) => e.path.startsWith('var/lib/apt/lists/') && e.size > 0);
    expect(lists.map((e) => e.path)).to.deep.equal([]);
    expect(content.filter((e) => e.path.endsWith('/copyright')).length).to.be.above(20);
    // What the operator needs from Debian.
    const rootfs = layers[0]!.map((e) => e.path);
    for (const lib of ['libvirt.so.0', 'libstdc++.so.6'])
      expect(
        rootfs.some((p) => p.startsWith('usr/lib/x86_64-linux-gnu/' + lib)),
        lib,
      ).to.equal(true);
    expect(rootfs).to.include('usr/bin/ssh');
    expect(rootfs).to.include('etc/ssl/certs/ca-certificates.crt');
  });

  it('runs its entry point as 65532 in its own root file system (umoci unpack + chroot): node, app, addon and libvirt0 load', async () => {
    bundle = await mkdtemp(join(tmpdir(), 'maaslab-oci-'));
    const layout = join(bundle, 'layout');
    await run('mkdir', [layout]);
    await run('tar', ['-xf', archivePath, '-C', layout]);
    const tag = oci.index.manifests[0]!.annotations!['org.opencontainers.image.ref.name']!;
    await run('umoci', ['unpack', '--image', `${layout}:${tag}`, join(bundle, 'unpacked')]);
    const rootfs = join(bundle, 'unpacked', 'rootfs');
    const c = oci.config.config;
    // As a runtime would start it: the config's user, working directory and environment
    // only, the entry point resolved through the image's PATH.
    const inImage = (args: string[]): Promise<{ stdout: string; stderr: string }> =>
      run(
        'chroot',
        [
          `--userspec=${c.User}`,
          `--groups=${c.User!.split(':')[1]}`,
          rootfs,
          '/usr/bin/env',
          '-i',
          ...c.Env!,
          '/bin/sh',
          '-c',
          'cd "$0" && exec "$@"',
          c.WorkingDir!,
          ...args,
        ],
        { maxBuffer: 16 * 1024 * 1024 },
      );
    const id = await inImage(['id', '-u']);
    expect(id.stdout.trim()).to.equal(String(uid));
    // The entry point with its default CMD. main.js imports the operator, which imports the
    // libvirt binding, which loads the addon (and so libvirt.so.0) at import.
    const help = await inImage([...c.Entrypoint!, ...c.Cmd!]);
    expect(help.stdout).to.match(/Usage: maaslab-operator/);
    // And a libvirt call through it, on the test driver: no daemon needed.
    const probe =
      "const { Connection } = await import('/app/dist/src/libvirt/connection.js');" +
      "const c = await Connection.open('test:///default');" +
      'console.log(process.version, await c.getLibVersion()); await c.close();';
    const libvirt = await inImage(['node', '--input-type=module', '-e', probe]);
    const [nodeVersion, libVersion] = libvirt.stdout.trim().split(' ');
    // The pinned node (hack/ensure-node.sh), and the libvirt0 the image's dpkg installed:
    // virConnectGetLibVersion gives major * 1,000,000 + minor * 1,000 + release.
    const nodeDir = await run(join(repoRoot, 'hack', 'ensure-node.sh'), [], {
      env: { ...process.env, MAASLAB_FORCE_PINNED_NODE: '1' },
    });
    const pinned = await run(join(nodeDir.stdout.trim(), 'node'), ['--version']);
    expect(nodeVersion).to.equal(pinned.stdout.trim());
    // Stripped (no DWARF, no static symbol table), with the dynamic symbols the addon
    // resolved napi_* against just above.
    const sections = await run('readelf', ['-S', '--wide', join(rootfs, 'usr/local/bin/node')]);
    const names = [...sections.stdout.matchAll(/\]\s+(\.\S+)/g)].map((m) => m[1]);
    expect(names).to.include('.dynsym');
    expect(names.filter((n) => n === '.symtab' || n!.startsWith('.debug'))).to.deep.equal([]);
    const libvirt0 = (await installed()).get('libvirt0') ?? '';
    const version = /^(?:\d+:)?(\d+)\.(\d+)\.(\d+)/.exec(libvirt0);
    expect(version, `libvirt0 ${libvirt0}`).to.not.equal(null);
    const [major, minor, release] = version!.slice(1).map(Number);
    expect(Number(libVersion)).to.equal(major! * 1_000_000 + minor! * 1_000 + release!);
  });
});
