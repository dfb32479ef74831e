// Command pause is the pod sandbox's only process, in place of registry.k8s.io/pause:
// it reaps orphaned children (it is PID 1 of the pod's PID namespace when that is
// shared) and exits 0 on SIGINT or SIGTERM. hack/build-pause-image.sh packs it, static,
// into the OCI image that containerd's sandbox_image names.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		// Reap every child that has exited; -1 means any child, WNOHANG not to block.
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
