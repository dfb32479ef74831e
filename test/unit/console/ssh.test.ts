import { expect } from 'chai';
import {
  SshUriError,
  VncUnavailableError,
  attachRefusal,
  isSshUri,
  parseSshUri,
  sshForwardCommand,
  vncRemoteAddress,
} from '../../../src/console/index.js';

const vnc = { host: '127.0.0.1', port: 5900 } as const;
/** The argv for `uri` to the VNC server on its loopback, port 5900. */
const argvOf = (uri: string): readonly string[] => sshForwardCommand(parseSshUri(uri), vnc).args;
/** What follows `--`: the destination and nothing else. */
const afterDashes = (args: readonly string[]): readonly string[] =>
  args.slice(args.indexOf('--') + 1);

describe('console/ssh: VNC over qemu+ssh', () => {
  describe('isSshUri', () => {
    it('is true for driver+ssh URIs only', () => {
      expect(isSshUri('qemu+ssh://root@h/system')).to.equal(true);
      expect(isSshUri('qemu+ssh://h:2222/system?keyfile=/k')).to.equal(true);
      for (const uri of [
        'qemu:///system',
        'qemu+unix:///system?socket=/x',
        'qemu+tcp://h/system',
        'qemu+tls://h/system',
        'qemu+libssh2://h/system',
        'qemu+ext:///system?command=/bin/ssh',
        ' qemu+ssh://h/system',
      ]) {
        expect(isSshUri(uri), uri).to.equal(false);
      }
    });
  });

  describe('parseSshUri + sshForwardCommand', () => {
    it('user, host and port become -l, the destination after --, and -p', () => {
      const cmd = sshForwardCommand(parseSshUri('qemu+ssh://root@10.0.0.2:2222/system'), vnc);
      expect(cmd.file).to.equal('ssh');
      expect(cmd.args).to.deep.equal([
        ...['-p', '2222', '-l', 'root', '-T', '-e', 'none'],
        ...['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'],
        ...['-o', 'ClearAllForwardings=yes', '-o', 'ControlMaster=no'],
        ...['-W', '127.0.0.1:5900', '--', '10.0.0.2'],
      ]);
    });

    it('no user and no port: neither -l nor -p, ssh_config decides', () => {
      const args = argvOf('qemu+ssh://kvm-1.lab.example/system');
      expect(args).to.not.include('-l');
      expect(args).to.not.include('-p');
      expect(afterDashes(args)).to.deep.equal(['kvm-1.lab.example']);
    });

    it('an IPv6 host loses its brackets; an IPv6 VNC address gets them in -W', () => {
      const dest = parseSshUri('qemu+ssh://root@[fd00::2]:22/system');
      expect(dest.host).to.equal('fd00::2');
      const args = sshForwardCommand(dest, { host: '::1', port: 5901 }).args;
      expect(args[args.indexOf('-W') + 1]).to.equal('[::1]:5901');
      expect(afterDashes(args)).to.deep.equal(['fd00::2']);
    });

    it('keyfile= becomes -i, no_verify=1 StrictHostKeyChecking=no, command= the binary', () => {
      const dest = parseSshUri(
        'qemu+ssh://root@h/system?keyfile=/etc/maaslab/id_ed25519&no_verify=1&command=/opt/ssh/bin/ssh',
      );
      const cmd = sshForwardCommand(dest, vnc);
      expect(cmd.file).to.equal('/opt/ssh/bin/ssh');
      expect(cmd.args.slice(cmd.args.indexOf('-i'), cmd.args.indexOf('-i') + 2)).to.deep.equal([
        '-i',
        '/etc/maaslab/id_ed25519',
      ]);
      expect(cmd.args).to.include('StrictHostKeyChecking=no');
      expect(argvOf('qemu+ssh://h/system?no_verify=0')).to.not.include('StrictHostKeyChecking=no');
    });

    it('known_hosts= and other libssh-only or remote-side parameters are ignored, as libvirt ssh does', () => {
      const args = argvOf(
        'qemu+ssh://h/system?known_hosts=/x/known&known_hosts_verify=ignore&socket=/s&proxy=native&mode=legacy&no_tty=1',
      );
      expect(args.join(' ')).to.not.match(/known|ignore|\/s|native|legacy/);
      expect(afterDashes(args)).to.deep.equal(['h']);
    });

    it('a percent-encoded user is decoded, then checked', () => {
      expect(parseSshUri('qemu+ssh://deploy%2Dbot@h/system').user).to.equal('deploy-bot');
      expect(() => parseSshUri('qemu+ssh://%2DoProxyCommand@h/system')).to.throw(SshUriError);
    });

    describe('hostile input is refused before anything runs', () => {
      const refused: Array<[string, string]> = [
        ['a host that is an option', 'qemu+ssh://-oProxyCommand=touch%20x/system'],
        ['a host that is an option, with a user', 'qemu+ssh://root@-oProxyCommand=sh/system'],
        ['a host starting with -', 'qemu+ssh://-h/system'],
        ['a user that is an option', 'qemu+ssh://-oProxyCommand=x@h/system'],
        ['a user starting with -', 'qemu+ssh://-l@h/system'],
        ['a user with a space', 'qemu+ssh://ro%20ot@h/system'],
        ['a user with a newline', 'qemu+ssh://ro%0Aot@h/system'],
        ['a host with a newline', 'qemu+ssh://h\nx/system'],
        ['a raw newline anywhere', 'qemu+ssh://root@h/system\n-oProxyCommand=x'],
        ['a raw tab', 'qemu+ssh://ro\tot@h/system'],
        ['a host with percent-encoding', 'qemu+ssh://h%20-oProxyCommand=x/system'],
        ['a host with a semicolon', 'qemu+ssh://h;reboot/system'],
        ['a host with a quote', "qemu+ssh://h'x/system"],
        ['a host with a dollar', 'qemu+ssh://$(id)/system'],
        ['an empty host', 'qemu+ssh:///system'],
        ['a bracketed host that is not IPv6', 'qemu+ssh://[-oProxyCommand=x]/system'],
        ['a password', 'qemu+ssh://root:secret@h/system'],
        ['port 0', 'qemu+ssh://h:0/system'],
        ['port 65536', 'qemu+ssh://h:65536/system'],
        ['a port that is not a number', 'qemu+ssh://h:22x/system'],
        ['a negative port', 'qemu+ssh://h:-22/system'],
        ['a relative keyfile', 'qemu+ssh://h/system?keyfile=-oProxyCommand=x'],
        ['a keyfile with a newline', 'qemu+ssh://h/system?keyfile=/k%0A-oProxyCommand=x'],
        ['keyfile twice', 'qemu+ssh://h/system?keyfile=/a&keyfile=/b'],
        ['a relative command', 'qemu+ssh://h/system?command=sh'],
        ['a command that is an option', 'qemu+ssh://h/system?command=-oProxyCommand=x'],
        ['not ssh at all', 'qemu+tcp://h/system'],
        ['not a URI', 'qemu+ssh://'],
      ];
      for (const [what, uri] of refused) {
        it(what, () => {
          expect(() => parseSshUri(uri), JSON.stringify(uri)).to.throw(SshUriError);
        });
      }
    });

    it('whatever is accepted, the destination is the one argument after -- and no option', () => {
      for (const uri of [
        'qemu+ssh://root@h/system',
        'qemu+ssh://_gateway/system',
        'qemu+ssh://root@[::1]:2022/system?keyfile=/k',
        'qemu+ssh://a.b-c.d/session',
      ]) {
        const args = argvOf(uri);
        expect(
          args.filter((a) => a === '--'),
          uri,
        ).to.have.length(1);
        expect(afterDashes(args), uri).to.have.length(1);
        expect(afterDashes(args)[0], uri).to.not.match(/^-/);
      }
    });
  });

  describe('vncRemoteAddress', () => {
    it('the live port on the listen address', () => {
      expect(
        vncRemoteAddress({ port: 5901, autoport: true, listen: '192.168.1.5' }, 'd'),
      ).to.deep.equal({ host: '192.168.1.5', port: 5901 });
      expect(vncRemoteAddress({ port: 5900, autoport: false, listen: '::1' }, 'd')).to.deep.equal({
        host: '::1',
        port: 5900,
      });
    });

    it('a wildcard or no listen address means the host loopback', () => {
      for (const listen of ['0.0.0.0', '::', '[::]', '', undefined]) {
        expect(
          vncRemoteAddress(
            { port: 5902, autoport: true, ...(listen !== undefined && { listen }) },
            'd',
          ),
          String(listen),
        ).to.deep.equal({ host: '127.0.0.1', port: 5902 });
      }
    });

    it('no graphics, or no port yet (autoport in the inactive XML): VncUnavailableError', () => {
      expect(() => vncRemoteAddress(undefined, 'd')).to.throw(
        VncUnavailableError,
        /no VNC display/,
      );
      expect(() => vncRemoteAddress({ autoport: true }, 'd')).to.throw(
        VncUnavailableError,
        /no TCP port/,
      );
      expect(() => vncRemoteAddress({ port: -1, autoport: true }, 'd')).to.throw(
        VncUnavailableError,
      );
      expect(() => vncRemoteAddress({ port: 70000, autoport: false }, 'd')).to.throw(
        VncUnavailableError,
      );
    });

    it('a listen address ssh could read as something else is refused', () => {
      for (const listen of ['-oProxyCommand=x', 'a b', 'h\n-W', 'h:1:2x', '/run/vnc.sock']) {
        expect(
          () => vncRemoteAddress({ port: 5900, autoport: false, listen }, 'd'),
          listen,
        ).to.throw(VncUnavailableError);
      }
    });
  });

  describe('attachRefusal', () => {
    const ref = { namespace: 'maas', name: 'n1', kind: 'vnc' } as const;
    it('no VNC display: 409; a tunnel that failed: 502 with what ssh said', () => {
      expect(
        attachRefusal(new VncUnavailableError('domain maas.n1 has no VNC display'), ref),
      ).to.deep.equal({
        status: 409,
        message:
          'maasnodes.maaslab.dev "n1" has no VNC display to attach to: domain maas.n1 has no VNC display',
      });
      const r = attachRefusal(
        new Error('ssh exited (code 255) before the far side answered: nope'),
        ref,
      );
      expect(r.status).to.equal(502);
      expect(r.message).to.include('nope');
    });
  });
});
