package sandbox_test

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/sandbox/escapetest"
)

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }
func itoa(i int) string                 { return strconv.Itoa(i) }

// The probe programs report outcomes the way the escape battery does.
var (
	outcome     = escapetest.Outcome
	readOutcome = escapetest.ReadOutcome
	openOutcome = escapetest.OpenOutcome
	capsLine    = escapetest.CapsLine
)

// runProbe is the test binary's behaviour inside a container.
func runProbe(mode string, args []string) int {
	switch mode {
	case "escape":
		if err := escapetest.Print(os.Stdout, escapetest.Run()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "whoami":
		fmt.Printf("uid=%d euid=%d gid=%d groups=%v %s\n", os.Getuid(), os.Geteuid(), os.Getgid(), mustGroups(), capsLine())
	case "bind":
		// args: port
		l, err := net.Listen("tcp", "0.0.0.0:"+args[0])
		if l != nil {
			l.Close()
		}
		fmt.Println(outcome(err))
	case "write":
		// args: paths; one outcome per line
		for _, p := range args {
			fmt.Printf("%s\t%s\n", p, openOutcome(p, unix.O_CREAT|unix.O_WRONLY))
		}
	case "read":
		for _, p := range args {
			fmt.Printf("%s\t%s\n", p, readOutcome(p))
		}
	case "exec":
		// args: path to exec; reports the errno of a failing execve
		err := unix.Exec(args[0], args, os.Environ())
		fmt.Println(outcome(err))
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown probe mode", mode)
		return 2
	}
	return 0
}

func mustGroups() []int {
	g, _ := os.Getgroups()
	return g
}
