// Command nucleus-exec is the main process of a nucleus unit: it builds the
// sandbox, runs the workload and its probes, and reports to systemd. See
// nucleus-exec(8).
package main

import (
	"os"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/supervisor"
)

func main() {
	// The same binary is re-executed as the container's init and as the
	// stage that execs the workload; MaybeInit never returns in those roles.
	sandbox.MaybeInit()
	os.Exit(supervisor.Main(os.Args[1:]))
}
