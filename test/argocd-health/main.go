// Command argocd-health evaluates the health of Kubernetes objects the way an Argo CD
// application controller does, with Argo CD's own code: the resource customizations are read
// from the live argocd-cm ConfigMap by Argo CD's SettingsManager (util/settings), the health Lua
// runs in Argo CD's gopher-lua VM (util/lua), and the verdict comes from gitops-engine's
// health.GetResourceHealth, the call Argo CD makes for every live resource of an Application.
//
// It exists to test deploy/argocd/ against the real thing rather than a Lua 5.1 interpreter:
// the key format (resource.customizations.health.<group>_<Kind>), the sandbox (no open libs),
// the table-to-status conversion and the "Pending deletion" rule are all Argo CD's.
//
// Usage:
//
//	argocd-health --kubeconfig FILE [--namespace argocd] < items.json
//
// items.json is a JSON array; each item is either {"ref": {apiVersion, kind, namespace, name}}
// (the object is read from the API server, as the controller's cache would hold it) or
// {"object": {...}} (evaluated as given). It prints a JSON array, one result per item, in order:
//
//	{"health": {status, message}, "lua": {status, message} | null, "override": KEY, "live": OBJ | null}
//
// health is Argo CD's verdict: Missing for an object that does not exist (the application
// controller's rule for a resource with no live state), otherwise GetResourceHealth with the
// argocd-cm overrides. lua is the customization's own result (ExecuteHealthLua of the script
// GetHealthScript picked), so it can be compared with other Lua runtimes even where Argo CD's
// verdict never reaches the Lua (an object being deleted).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/argoproj/argo-cd/v2/util/lua"
	"github.com/argoproj/argo-cd/v2/util/settings"
	"github.com/argoproj/gitops-engine/pkg/health"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// ref names one object on the API server.
type ref struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

type item struct {
	Ref    *ref           `json:"ref,omitempty"`
	Object map[string]any `json:"object,omitempty"`
}

type result struct {
	Health   *health.HealthStatus `json:"health"`
	Lua      *health.HealthStatus `json:"lua"`
	Override string               `json:"override"`
	Live     map[string]any       `json:"live"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster holding argocd-cm and the objects")
	namespace := flag.String("namespace", "argocd", "namespace of argocd-cm")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	if err := run(*kubeconfig, *namespace, *timeout, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-health:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, namespace string, timeout time.Duration, in io.Reader, out io.Writer) error {
	var items []item
	if err := json.NewDecoder(in).Decode(&items); err != nil {
		return fmt.Errorf("reading items: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	// Argo CD's own reading of argocd-cm: the split resource.customizations.* keys, the
	// legacy resource.customizations block, and the status-ignoring defaults it adds.
	overrides, err := settings.NewSettingsManager(ctx, clientset, namespace).GetResourceOverrides()
	if err != nil {
		return fmt.Errorf("reading resource overrides from %s/argocd-cm: %w", namespace, err)
	}
	dyn, err := dynamic.NewForConfig(config)
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))

	results := make([]result, 0, len(items))
	for i, it := range items {
		obj, err := resolve(ctx, dyn, mapper, it)
		if err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		r, err := evaluate(overrides, obj)
		if err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		results = append(results, r)
	}
	enc := json.NewEncoder(out)
	return enc.Encode(results)
}

// resolve returns the item's object: read live for a ref (nil when it does not exist).
func resolve(ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper, it item) (*unstructured.Unstructured, error) {
	if it.Ref == nil {
		if it.Object == nil {
			return nil, fmt.Errorf("neither ref nor object")
		}
		return &unstructured.Unstructured{Object: it.Object}, nil
	}
	gv, err := schema.ParseGroupVersion(it.Ref.APIVersion)
	if err != nil {
		return nil, err
	}
	m, err := mapper.RESTMapping(gv.WithKind(it.Ref.Kind).GroupKind(), gv.Version)
	if err != nil {
		return nil, err
	}
	obj, err := dyn.Resource(m.Resource).Namespace(it.Ref.Namespace).Get(ctx, it.Ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return obj, err
}

func evaluate(overrides lua.ResourceHealthOverrides, obj *unstructured.Unstructured) (result, error) {
	if obj == nil {
		// controller/health.go: a resource of the Application with no live object.
		return result{Health: &health.HealthStatus{Status: health.HealthStatusMissing}}, nil
	}
	verdict, err := health.GetResourceHealth(obj, overrides)
	if err != nil {
		return result{}, fmt.Errorf("GetResourceHealth: %w", err)
	}
	vm := lua.VM{ResourceOverrides: overrides}
	script, useOpenLibs, err := vm.GetHealthScript(obj)
	if err != nil {
		return result{}, fmt.Errorf("GetHealthScript: %w", err)
	}
	r := result{Health: verdict, Live: obj.Object}
	if script == "" {
		return r, nil
	}
	// The argocd-cm key that supplied the script ("" for a built-in or a wildcard one).
	if key := lua.GetConfigMapKey(obj.GroupVersionKind()); overrides[key].HealthLua == script {
		r.Override = key
	}
	vm.UseOpenLibs = useOpenLibs
	if r.Lua, err = vm.ExecuteHealthLua(obj, script); err != nil {
		return result{}, fmt.Errorf("ExecuteHealthLua: %w", err)
	}
	return r, nil
}
