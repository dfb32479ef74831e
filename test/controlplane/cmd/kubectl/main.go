// Command kubectl is upstream kubectl, built from the same Kubernetes release as
// kube-testenv (k8s.io/kubectl is pinned in ../../go.mod), so that the tests, `make demo`
// and the benchmarks talk to the control plane with a client of its own version instead
// of whatever kubectl happens to be on PATH. hack/build-kube-testenv.sh builds it into
// bin/kubectl with the release's version ldflags.
//
// It does what Kubernetes' cmd/kubectl does: the default command tree (plugins, .kuberc,
// built-in kustomize), with klog's verbosity taken from the arguments before the command
// is built, and errors printed the way kubectl prints them.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectl "k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// The client-go credential plugins (exec, oidc) that kubeconfigs may name.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	// Building the command already logs (plugin lookup, .kuberc), and the flags are
	// parsed only later, inside RunNoErrOutput: set -v/--v from the raw arguments first.
	_, _ = logs.GlogSetter(kubectl.GetLogVerbosity(os.Args))
	if err := cli.RunNoErrOutput(kubectl.NewDefaultKubectlCommand()); err != nil {
		// CheckErr prints the error as kubectl does and exits with its exit code.
		util.CheckErr(err)
	}
}
