package sandbox

import (
	"fmt"
	"strconv"

	"github.com/nucleus-containers/nucleus/internal/landlock"
	"github.com/nucleus-containers/nucleus/internal/seccomp"
)

// buildSeccomp assembles the workload's filter; nil means unconfined.
func buildSeccomp(ep *execPlan) (*seccomp.Filter, error) {
	o := seccomp.Options{Mode: ep.Seccomp.Mode, Allow: ep.Seccomp.Allow, HostNetwork: ep.Seccomp.HostNetwork}
	if o.Mode == seccomp.ModeProfile {
		// The host path is not visible after pivot_root; init opened it
		// before and passed it down.
		o.ProfilePath = "/proc/self/fd/" + strconv.Itoa(execProfileFD)
	}
	f, err := seccomp.Build(o)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	return f, nil
}

// installSeccomp is the last step before execve.
func installSeccomp(f *seccomp.Filter) error {
	if f == nil {
		return nil
	}
	if err := f.Install(); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}

// restrictLandlock applies the plan's Landlock rules to the calling thread
// (which execs next). abi 0 means the kernel has no Landlock.
func restrictLandlock(r landlockPlan) (int, error) {
	return landlock.Restrict(landlock.Rules{Read: r.Read, Write: r.Write, Execute: r.Execute,
		TCPBind: r.TCPBind, TCPConnect: r.TCPConnect})
}
