package landlock

import (
	"runtime"
	"testing"
)

// BenchmarkLandlockRestrict is what a container start pays for its
// Landlock domain: stat the rule paths, build the ruleset, restrict a
// thread. Each iteration restricts a fresh thread (a goroutine that locks
// it and exits, so the Go runtime retires it), which adds a thread
// creation to the measurement.
func BenchmarkLandlockRestrict(b *testing.B) {
	if ABI() == 0 {
		b.Skip("the kernel has no Landlock")
	}
	rules := Rules{
		Read:    []string{"/etc", "/proc", "/dev/urandom", "/dev/zero"},
		Execute: []string{"/usr", "/bin", "/sbin", "/lib", "/lib64"},
		Write:   []string{"/tmp", "/dev/shm", "/dev/null"},
		TCPBind: []uint16{8080},
	}
	errs := make(chan error)
	for b.Loop() {
		go func() {
			runtime.LockOSThread() // Restrict locks again; neither is undone
			_, err := Restrict(rules)
			errs <- err
		}()
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}
