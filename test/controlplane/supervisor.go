package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// serviceCIDR matches envtest's default, so manifests tested here behave as there.
	serviceCIDR = "10.0.0.0/24"
	// readyTimeout bounds how long a cold apiserver may take to answer /readyz. A first
	// start on a loaded 2-core machine installs every built-in API group, which is slow.
	readyTimeout = 3 * time.Minute
	// stopTimeout bounds a child's graceful shutdown before it is killed.
	stopTimeout = 20 * time.Second
)

// User names of the static token file; the tests rely on these exact names.
const (
	adminUser    = "admin"
	operatorUser = "maaslab-operator"
	kcmUser      = "kube-controller-manager"
	mastersGroup = "system:masters"
)

func init() {
	// Die with the parent: a test runner that crashes or is killed must not leak a
	// control plane. Init functions run on the main OS thread, which lives as long as
	// the process; the kernel sends the signal when the parent exits.
	if len(os.Args) > 1 && (os.Args[1] == "apiserver" || os.Args[1] == "controller-manager" || os.Args[1] == "kstatus") {
		return
	}
	ppid := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGTERM), 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "kube-testenv: prctl(PR_SET_PDEATHSIG): %v\n", err)
	}
	// The parent may have died before prctl took effect.
	if os.Getppid() != ppid {
		os.Exit(1)
	}
}

// runSupervisor starts the whole control plane and blocks until a signal arrives or a
// component fails. It returns the process exit code.
func runSupervisor(args []string) int {
	fs := flag.NewFlagSet("kube-testenv", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	dirFlag := fs.String("dir", "", "state directory (default: a temporary directory, removed on exit)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kube-testenv: unexpected arguments %q\n", fs.Args())
		return 2
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	// SIGHUP restarts the apiserver (see wait). Registered before starting anything: its
	// default action would kill the supervisor, and one sent early waits until READY.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	dir := *dirFlag
	if dir == "" {
		tmp, err := os.MkdirTemp("", "kube-testenv-")
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fail(err)
	}
	cp := &controlPlane{dir: dir}
	err = cp.start(ctx)
	if err == nil {
		err = cp.wait(ctx, hup)
	}
	cp.stop()
	if err != nil {
		return fail(err)
	}
	return 0
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "kube-testenv: %v\n", err)
	return 1
}

// controlPlane is one running etcd + apiserver + controller manager.
type controlPlane struct {
	dir        string
	etcd       *etcdServer
	apiserver  *child
	controller *child

	// What restartAPIServer needs to start the apiserver again exactly as before and
	// to poll its /readyz.
	apiArgs    []string
	server     string
	caPEM      []byte
	adminToken string
}

func (cp *controlPlane) start(ctx context.Context) error {
	logDir := filepath.Join(cp.dir, "logs")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return err
	}
	keys, err := writePKI(filepath.Join(cp.dir, "pki"))
	if err != nil {
		return fmt.Errorf("writing certificates: %w", err)
	}
	tokens := map[string]string{}
	for _, u := range []string{adminUser, operatorUser, kcmUser} {
		if tokens[u], err = randomToken(); err != nil {
			return err
		}
	}
	tokenFile := filepath.Join(cp.dir, "pki", "tokens.csv")
	// Format: token,user,uid,"group1,group2"; the operator deliberately has no groups so
	// that only the RBAC rules the tests grant apply to it.
	csv := fmt.Sprintf("%s,%s,%s,%q\n%s,%s,%s\n%s,%s,%s,%q\n",
		tokens[adminUser], adminUser, adminUser, mastersGroup,
		tokens[operatorUser], operatorUser, operatorUser,
		tokens[kcmUser], kcmUser, kcmUser, mastersGroup)
	if err := os.WriteFile(tokenFile, []byte(csv), 0o600); err != nil {
		return err
	}

	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	for name, user := range map[string]string{"admin.kubeconfig": adminUser, "operator.kubeconfig": operatorUser, "pki/controller-manager.kubeconfig": kcmUser} {
		if err := writeKubeconfig(filepath.Join(cp.dir, name), server, keys.caPEM, user, tokens[user]); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}

	began := time.Now()
	cp.etcd, err = startEtcd(ctx, filepath.Join(cp.dir, "etcd"), filepath.Join(logDir, "etcd.log"), etcdClient, etcdPeer)
	if err != nil {
		return fmt.Errorf("starting etcd: %w", err)
	}

	cp.server, cp.caPEM, cp.adminToken = server, keys.caPEM, tokens[adminUser]
	cp.apiArgs = []string{"apiserver",
		"--etcd-servers=" + cp.etcd.clientURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(cp.dir, "pki"),
		"--tls-cert-file=" + keys.serverCert,
		"--tls-private-key-file=" + keys.serverKey,
		"--token-auth-file=" + tokenFile,
		"--client-ca-file=" + keys.caCert,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-key-file=" + keys.saKey,
		"--service-account-signing-key-file=" + keys.saKey,
		"--service-account-issuer=" + server,
		"--authorization-mode=RBAC",
		// For a kubelet that test/support/cluster.ts adds: it is reached at its InternalIP
		// (its host name resolves nowhere) with a client certificate it trusts.
		"--kubelet-client-certificate=" + keys.kubeletClientCert,
		"--kubelet-client-key=" + keys.kubeletClientKey,
		"--kubelet-preferred-address-types=InternalIP",
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		// The "kubernetes" Service endpoint cannot be a loopback address; without this the
		// apiserver logs an error every few seconds trying to write one.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
	cp.apiserver, err = startChild("kube-apiserver", filepath.Join(logDir, "kube-apiserver.log"), cp.apiArgs...)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, server, cp.caPEM, cp.adminToken, cp.apiserver, cp.etcd); err != nil {
		return err
	}

	// The controller manager gives up if the apiserver does not answer within seconds,
	// so it starts only once the apiserver is ready.
	cp.controller, err = startChild("kube-controller-manager", filepath.Join(logDir, "kube-controller-manager.log"), "controller-manager",
		"--kubeconfig="+filepath.Join(cp.dir, "pki", "controller-manager.kubeconfig"),
		"--controllers=garbage-collector-controller,namespace-controller",
		"--leader-elect=false",
		// Port 0 turns off its HTTPS endpoint: nothing here scrapes it, and it would
		// otherwise listen on all interfaces.
		"--secure-port=0",
		"--use-service-account-credentials=false",
	)
	if err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "kube-testenv: ready after %s\n", time.Since(began).Round(time.Millisecond))
	fmt.Printf("SERVER=%s\n", server)
	fmt.Printf("KUBECONFIG=%s\n", filepath.Join(cp.dir, "admin.kubeconfig"))
	fmt.Printf("OPERATOR_KUBECONFIG=%s\n", filepath.Join(cp.dir, "operator.kubeconfig"))
	fmt.Println("READY")
	return nil
}

// wait blocks until a stop signal arrives (nil) or a component stops on its own (an
// error). Each SIGHUP on hup restarts the apiserver and then prints RESTARTED.
func (cp *controlPlane) wait(ctx context.Context, hup <-chan os.Signal) error {
	for {
		// cp.apiserver is re-read on every pass: a restart replaces it.
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			if err := cp.restartAPIServer(ctx); err != nil {
				if ctx.Err() != nil {
					return nil // told to stop mid-restart: not a failure
				}
				return err
			}
			fmt.Println("RESTARTED")
		case <-cp.apiserver.exited:
			return cp.apiserver.failure()
		case <-cp.controller.exited:
			return cp.controller.failure()
		case err := <-cp.etcd.errs():
			return fmt.Errorf("etcd failed: %v", err)
		}
	}
}

// restartAPIServer stops the apiserver and starts it again with the same flags, port,
// certificates and tokens, and returns once /readyz answers 200. etcd (and so every
// object) and the controller manager stay up: tests use this to prove that clients'
// watches and informers recover from an apiserver outage.
func (cp *controlPlane) restartAPIServer(ctx context.Context) error {
	began := time.Now()
	fmt.Fprintln(os.Stderr, "kube-testenv: SIGHUP: restarting kube-apiserver")
	old := cp.apiserver
	old.stop()
	next, err := startChild(old.name, old.logPath, cp.apiArgs...)
	if err != nil {
		return err
	}
	cp.apiserver = next
	if err := waitReady(ctx, cp.server, cp.caPEM, cp.adminToken, next, cp.etcd); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kube-testenv: kube-apiserver restarted in %s\n", time.Since(began).Round(time.Millisecond))
	return nil
}

// stop shuts the components down in reverse order of their dependencies.
func (cp *controlPlane) stop() {
	if cp.controller != nil {
		cp.controller.stop()
	}
	if cp.apiserver != nil {
		cp.apiserver.stop()
	}
	if cp.etcd != nil {
		cp.etcd.close()
	}
}

// child is one component process: this binary, re-executed with a component subcommand.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error
}

func startChild(name, logPath string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// SIGKILL, not SIGTERM: if this supervisor dies without stopping its children,
	// etcd (in this process) is gone too, so there is nothing left to shut down cleanly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logFile.Close()
		close(c.exited)
	}()
	return c, nil
}

// failure describes an unexpected exit, with the end of the component's log.
func (c *child) failure() error {
	return fmt.Errorf("%s exited unexpectedly (%v); last lines of %s:\n%s", c.name, c.err, c.logPath, tail(c.logPath, 25))
}

func (c *child) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(stopTimeout):
		fmt.Fprintf(os.Stderr, "kube-testenv: %s did not stop within %s; killing it\n", c.name, stopTimeout)
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// waitReady polls /readyz until it answers 200, a component dies, or time runs out.
func waitReady(ctx context.Context, server string, caPEM []byte, token string, apiserver *child, etcd *etcdServer) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: nil},
	}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := client.Do(req); err != nil {
			last = err.Error()
		} else {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted while waiting for the apiserver")
		case <-apiserver.exited:
			return apiserver.failure()
		case err := <-etcd.errs():
			return fmt.Errorf("etcd failed: %v", err)
		case <-deadline.C:
			return fmt.Errorf("apiserver not ready after %s (last /readyz: %s); last lines of %s:\n%s",
				readyTimeout, last, apiserver.logPath, tail(apiserver.logPath, 25))
		case <-tick.C:
		}
	}
}

// freePorts reserves n distinct loopback ports. All listeners stay open until every
// port is chosen, so the kernel cannot hand out the same port twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
