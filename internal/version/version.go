// Package version holds build-time facts: the release string and the
// installed path of nucleus-exec that generated units point at. Both are set
// with -ldflags -X by the Makefile; the defaults suit a `go build`.
package version

import "os"

// Version is the release, e.g. "0.1.0" or a git describe string.
var Version = "0.1.0-dev"

// ExecPath is where nucleus-exec is installed; ExecStart= points here.
var ExecPath = "/usr/libexec/nucleus/nucleus-exec"

// NucleusExec returns the nucleus-exec path generated units use:
// $NUCLEUS_EXEC_PATH when set (tests), else ExecPath.
func NucleusExec() string {
	if p := os.Getenv("NUCLEUS_EXEC_PATH"); p != "" {
		return p
	}
	return ExecPath
}
