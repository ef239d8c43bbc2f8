// Command sandbox-run starts one spec through internal/sandbox alone (no
// supervisor, no probes, no sd_notify) and exits with the workload's status.
// The start-latency benchmark runs it next to `nucleus-exec run` to show
// how much of a start is the sandbox itself.
package main

import (
	"fmt"
	"os"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

func main() {
	sandbox.MaybeInit()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sandbox-run SPEC.toml [DROPIN.toml ...]")
		os.Exit(2)
	}
	s, err := spec.LoadFiles(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
	c, err := sandbox.Start(s, sandbox.Options{Log: func(f string, a ...any) {}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
	status, err := c.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
	os.Exit(status)
}
