// Command nucleus-exec is the main process of a nucleus unit: it builds the
// sandbox, runs the workload and its probes, and reports to systemd. See
// nucleus-exec(8).
package main

import (
	"os"

	"github.com/nucleus-containers/nucleus/internal/gvisor"
	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/supervisor"
)

func main() {
	// The same binary is re-executed as the container's init (and, under
	// gVisor, as the probe relay); those roles never return here.
	sandbox.MaybeInit()
	gvisor.MaybeRelay() // inside a gVisor sandbox: the probe relay of gvisor.Container.Dial
	os.Exit(supervisor.Main(os.Args[1:], supervisor.Runtimes{spec.RuntimeNative: startNative, spec.RuntimeGVisor: startGVisor}))
}

// startNative runs s in the native sandbox.
func startNative(s *spec.Spec, opts supervisor.StartOptions) (supervisor.Workload, error) {
	c, err := sandbox.Start(s, sandbox.Options{NotifySocket: opts.NotifySocket, Log: opts.Log})
	if err != nil {
		return nil, err // not a typed nil *Container in a non-nil interface
	}
	return c, nil
}

// startGVisor runs s under gVisor's runsc.
func startGVisor(s *spec.Spec, opts supervisor.StartOptions) (supervisor.Workload, error) {
	c, err := gvisor.Start(s, sandbox.Options{NotifySocket: opts.NotifySocket, Log: opts.Log})
	if err != nil {
		return nil, err
	}
	return c, nil
}
