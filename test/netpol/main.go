// Command kube-network-policies is the NetworkPolicy enforcer of the test cluster
// (test/support/network-policy.ts): sigs.k8s.io/kube-network-policies' controller, the one
// kind runs on each node, started as a process in the node's network namespace rather than
// as a DaemonSet pod. Upstream's own main reads an in-cluster config (a pod's token file at a
// fixed path); this one takes a kubeconfig, and leaves out the metrics server and the
// AdminNetworkPolicy APIs (the test cluster serves no network-policy-api CRDs).
//
// The controller evaluates every packet the kernel queues to --nfqueue-id against the
// NetworkPolicies, Pods and Namespaces it watches, and sets the verdict. It also tries to
// install the nftables rules that queue the packets; where the kernel lacks nftables' queue
// expression (CONFIG_NFT_QUEUE), that fails and the harness queues them with iptables'
// NFQUEUE target instead (see the support file).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

func main() {
	os.Exit(run())
}

func run() int {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server (required)")
	nodeName := flag.String("hostname-override", "", "the Node's name (required): only its pods' traffic is evaluated")
	queueID := flag.Int("nfqueue-id", 100, "the netfilter queue to read packets from")
	failOpen := flag.Bool("fail-open", false, "accept packets while the controller is not running")
	klog.InitFlags(flag.CommandLine)
	flag.Parse()
	if *kubeconfig == "" || *nodeName == "" {
		fmt.Fprintln(os.Stderr, "kube-network-policies: --kubeconfig and --hostname-override are required")
		return 2
	}

	// SIGTERM too: the harness stops its processes with it.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.ErrorS(err, "reading the kubeconfig")
		return 1
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.ErrorS(err, "creating the client")
		return 1
	}
	factory := informers.NewSharedInformerFactory(clientset, 0)
	controller, err := networkpolicy.NewController(
		clientset,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil, // nodes and the AdminNetworkPolicy APIs: not enabled
		networkpolicy.Config{
			FailOpen:            *failOpen,
			QueueID:             *queueID,
			NodeName:            *nodeName,
			NetfilterBug1766Fix: true,
			// NRI stays enabled: with it disabled, v0.8.0 dereferences its nil plugin for
			// any address that is not a known pod's. Without a containerd NRI socket the
			// plugin only logs that it could not connect.
		},
	)
	if err != nil {
		klog.ErrorS(err, "creating the network policy controller")
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- controller.Run(ctx) }()
	factory.Start(ctx.Done())

	select {
	case err = <-done:
		// Run returns early only when it cannot open the queue: fatal here.
		if err != nil {
			klog.ErrorS(err, "the network policy controller stopped")
			return 1
		}
	case <-ctx.Done():
		// Run removes its rules and closes the queue once ctx is done.
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	return 0
}
