package gvisor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

// view answers "which host file will the sandbox show at this path?" before
// runsc starts, so that the user is resolved in the container's own
// /etc/passwd and a missing command gets the shell's 127 instead of a runsc
// error. It knows the root (a rootfs directory, or the host view) and the
// [[mount]] binds layered on it.
type view struct {
	rootfs   string // "" = host view
	hostView []workload.HostEntry
	binds    []spec.Mount // bind mounts, in spec order (later ones win)
}

func newView(s *spec.Spec, hv []workload.HostEntry) *view {
	v := &view{rootfs: s.Isolation.Rootfs, hostView: hv}
	for _, m := range s.Mounts {
		if m.Type == spec.MountBind {
			v.binds = append(v.binds, m)
		}
	}
	return v
}

// hostPath maps an absolute path inside the container to the host path that
// will be shown there; ok is false when nothing on the host backs it (a
// tmpfs, or outside the host view).
func (v *view) hostPath(inside string) (string, bool) {
	inside = filepath.Clean("/" + inside)
	for i := len(v.binds) - 1; i >= 0; i-- {
		t := filepath.Clean(v.binds[i].Target)
		if inside == t || strings.HasPrefix(inside, t+"/") {
			p, err := securejoin.SecureJoin(v.binds[i].Source, strings.TrimPrefix(inside, t))
			return p, err == nil
		}
	}
	if v.rootfs != "" {
		p, err := securejoin.SecureJoin(v.rootfs, inside)
		return p, err == nil
	}
	for _, e := range v.hostView {
		if inside == e.Path || strings.HasPrefix(inside, e.Path+"/") {
			// The host's own path: its symlinks (merged /usr) are the
			// same inside.
			return inside, true
		}
	}
	return "", false
}

// Exit statuses for a command that cannot be run, shared with the native
// sandbox.
const (
	exitNotExecutable = workload.ExitNotExecutable
	exitNotFound      = workload.ExitNotFound
)

// lookCommand resolves argv0 the way the sandbox will (PATH search for a bare
// name) and returns 0 when it finds an executable file, otherwise 126 or
// 127 and the reason.
func (v *view) lookCommand(argv0, path string) (int, error) {
	var candidates []string
	if strings.Contains(argv0, "/") {
		candidates = []string{argv0}
	} else {
		for _, dir := range filepath.SplitList(path) {
			if filepath.IsAbs(dir) {
				candidates = append(candidates, filepath.Join(dir, argv0))
			}
		}
	}
	code, reason := exitNotFound, fmt.Errorf("%s: command not found", argv0)
	if len(candidates) == 1 {
		reason = fmt.Errorf("%s: no such file or directory", argv0)
	}
	for _, c := range candidates {
		hp, ok := v.hostPath(c)
		if !ok {
			continue
		}
		fi, err := os.Stat(hp)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			// Not decidable from here (permissions): let runsc try.
			return 0, nil
		case fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0:
			return 0, nil
		default:
			code, reason = exitNotExecutable, fmt.Errorf("%s: permission denied (not an executable file)", c)
		}
	}
	return code, reason
}

// resolveIdentity resolves user and the supplementary groups in the
// /etc/passwd and /etc/group the sandbox will show, with the rules both
// runtimes share (workload.Resolve).
func (v *view) resolveIdentity(user string, groups []string) (workload.Identity, error) {
	return workload.Resolve(v.hostPath, user, groups)
}
