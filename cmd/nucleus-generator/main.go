// Command nucleus-generator is the systemd generator that turns nucleus
// container specs into NAME.service units. See nucleus-generator(8); the
// work is in internal/generator.
package main

import (
	"os"

	"github.com/nucleus-containers/nucleus/internal/generator"
)

func main() {
	os.Exit(generator.Main(os.Args[1:], os.Stdout, os.Stderr))
}
