package sandbox

import (
	"fmt"

	"github.com/nucleus-containers/nucleus/internal/landlock"
	"github.com/nucleus-containers/nucleus/internal/seccomp"
)

// buildSeccomp assembles the workload's filter once, in init, before
// pivot_root (a profile path is a host path); nil means unconfined.
func buildSeccomp(sp seccompPlan) (*seccomp.Filter, error) {
	f, err := seccomp.Build(seccomp.Options{Mode: sp.Mode, ProfilePath: sp.ProfilePath, Allow: sp.Allow, HostNetwork: sp.HostNetwork})
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	return f, nil
}

// restrictLandlock applies the plan's Landlock rules to the calling thread
// (which execs next). abi 0 means the kernel has no Landlock.
func restrictLandlock(r landlockPlan) (int, error) {
	return landlock.Restrict(landlock.Rules{Read: r.Read, Write: r.Write, Execute: r.Execute,
		TCPBind: r.TCPBind, TCPConnect: r.TCPConnect})
}
