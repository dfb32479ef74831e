package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// kstatusResult is what the kstatus subcommand prints, one JSON object on one line.
type kstatusResult struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// runKstatus prints kstatus's verdict (Current, InProgress, Failed, Terminating,
// NotFound, Unknown) for one object, so TypeScript tests can reuse the exact rules
// that kubectl-based tooling (kpt, Flux, Config Sync) applies.
func runKstatus(args []string) int {
	fs := flag.NewFlagSet("kube-testenv kstatus", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	resource, ref := fs.Arg(0), fs.Arg(1)
	namespace, name := "", ref
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		namespace, name = ref[:i], ref[i+1:]
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fail(err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	gvr, namespaced, err := resolveResource(mapper, resource)
	if err != nil {
		return fail(err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	var ri dynamic.ResourceInterface = client.Resource(gvr)
	if namespaced {
		if namespace == "" {
			namespace = "default"
		}
		ri = client.Resource(gvr).Namespace(namespace)
	}

	out := kstatusResult{}
	obj, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		out = kstatusResult{Status: status.NotFoundStatus.String(), Message: err.Error()}
	case err != nil:
		return fail(err)
	default:
		res, err := status.Compute(obj)
		if err != nil {
			return fail(err)
		}
		out = kstatusResult{Status: res.Status.String(), Message: res.Message}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return fail(err)
	}
	return 0
}

// resolveResource accepts "group/version/Kind" ("v1/ConfigMap" for the core group) or
// a resource as kubectl spells it ("configmaps", "deployments.apps").
func resolveResource(mapper *restmapper.DeferredDiscoveryRESTMapper, arg string) (schema.GroupVersionResource, bool, error) {
	parts := strings.Split(arg, "/")
	var gvk schema.GroupVersionKind
	switch len(parts) {
	case 3:
		gvk = schema.GroupVersionKind{Group: parts[0], Version: parts[1], Kind: parts[2]}
	case 2:
		gvk = schema.GroupVersionKind{Version: parts[0], Kind: parts[1]}
	default:
		gr := schema.ParseGroupResource(arg)
		gvr, err := mapper.ResourceFor(gr.WithVersion(""))
		if err != nil {
			return schema.GroupVersionResource{}, false, err
		}
		if gvk, err = mapper.KindFor(gvr); err != nil {
			return schema.GroupVersionResource{}, false, err
		}
	}
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return schema.GroupVersionResource{}, false, err
	}
	return m.Resource, m.Scope.Name() == "namespace", nil
}
