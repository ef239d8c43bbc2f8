//go:build !sandboxtrace

package sandbox

// tracePhase and traceDump do nothing unless the binary is built with
// -tags sandboxtrace (trace_on.go): the calls compile to nothing.
func tracePhase(string) {}

func traceDump(string) {}
