// Command kube-testenv runs a real Kubernetes control plane on loopback for maaslab's
// integration tests: embedded etcd, kube-apiserver and a kube-controller-manager that
// runs only the garbage-collector and namespace controllers.
//
// The apiserver and the controller manager run as child processes of this same binary
// (the hidden "apiserver" and "controller-manager" subcommands). Each upstream component
// keeps process-wide state (feature gates, metrics registries, signal handlers), so one
// process per component is the only arrangement the upstream commands are built for.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

const usage = `usage:
  kube-testenv [--dir DIR]
      start etcd, kube-apiserver and kube-controller-manager; print READY when serving;
      stop on SIGTERM or SIGINT; on SIGHUP restart kube-apiserver alone (same port,
      certificates and tokens; etcd keeps its data) and print RESTARTED once it is ready
  kube-testenv kstatus --kubeconfig FILE RESOURCE NAMESPACE/NAME
      print the kstatus result of one object as JSON; RESOURCE is a resource name
      (configmaps, deployments.apps) or group/version/Kind (apps/v1/Deployment, v1/ConfigMap)
`

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "apiserver":
			os.Exit(runComponent(apiserver.NewAPIServerCommand, os.Args[2:]))
		case "controller-manager":
			os.Exit(runComponent(controllermanager.NewControllerManagerCommand, os.Args[2:]))
		case "kstatus":
			os.Exit(runKstatus(os.Args[2:]))
		case "-h", "--help", "help":
			fmt.Print(usage)
			os.Exit(0)
		}
	}
	os.Exit(runSupervisor(os.Args[1:]))
}

// runComponent runs one upstream component command with the given arguments, with
// the same logging and exit-code handling as the upstream binaries' main().
func runComponent(newCommand func() *cobra.Command, args []string) int {
	cmd := newCommand()
	cmd.SetArgs(args)
	return cli.Run(cmd)
}
