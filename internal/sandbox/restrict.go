package sandbox

import (
	"fmt"
	"strconv"

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
