// Command nucleus-escape runs the sandbox's escape battery
// (internal/sandbox/escapetest) from inside a container and prints one line
// per attempt, then "escape-done". The e2e suite bind-mounts it into a
// unit's container and reads the lines back from the journal. It is a test
// program: it is not installed.
package main

import (
	"fmt"
	"os"

	"github.com/nucleus-containers/nucleus/internal/sandbox/escapetest"
)

func main() {
	if err := escapetest.Print(os.Stdout, escapetest.Run()); err != nil {
		fmt.Fprintln(os.Stderr, "nucleus-escape:", err)
		os.Exit(1)
	}
}
