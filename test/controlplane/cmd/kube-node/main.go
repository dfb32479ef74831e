// Command kube-node runs what kube-testenv's control plane lacks for pods to run: the
// kubelet, kube-scheduler and kube-proxy, built from the same k8s.io/kubernetes release
// (the same go.mod) as kube-testenv and kubectl.
//
//	kube-node kubelet ARGS...     the kubelet (k8s.io/kubernetes/cmd/kubelet)
//	kube-node scheduler ARGS...   kube-scheduler (k8s.io/kubernetes/cmd/kube-scheduler)
//	kube-node proxy ARGS...       kube-proxy (k8s.io/kubernetes/cmd/kube-proxy)
//
// Each subcommand is the upstream command with the upstream flags; one process runs one
// component, because each keeps process-wide state (feature gates, metrics registries,
// signal handlers). test/support/cluster.ts starts and stops them.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

const usage = "usage: kube-node kubelet|scheduler|proxy [FLAGS...]\n"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var cmd *cobra.Command
	switch os.Args[1] {
	case "kubelet":
		cmd = kubelet.NewKubeletCommand(context.Background())
	case "scheduler":
		cmd = scheduler.NewSchedulerCommand()
	case "proxy":
		cmd = proxy.NewProxyCommand()
	case "-h", "--help", "help":
		fmt.Print(usage)
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "kube-node: unknown component %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	cmd.SetArgs(os.Args[2:])
	os.Exit(cli.Run(cmd))
}
