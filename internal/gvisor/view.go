package gvisor

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// view answers "which host file will the sandbox show at this path?" before
// runsc starts, so that the user is resolved in the container's own
// /etc/passwd and a missing command gets the shell's 127 instead of a runsc
// error. It knows the root (a rootfs directory, or the host view) and the
// [[mount]] binds layered on it.
type view struct {
	rootfs   string // "" = host view
	hostView []hostEntry
	binds    []spec.Mount // bind mounts, in spec order (later ones win)
}

func newView(s *spec.Spec, hv []hostEntry) *view {
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

// Exit statuses for a command that cannot be run, the shell's convention
// (and the native sandbox's).
const (
	exitNotExecutable = 126
	exitNotFound      = 127
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

// identity is the workload's resolved user.
type identity struct {
	UID, GID uint32
	SupGIDs  []uint32
	Name     string
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// resolveIdentity resolves user ("" = root, NAME, UID, USER:GROUP) and the
// supplementary groups in the container's /etc/passwd and /etc/group, with
// the native sandbox's rules: a numeric uid missing from passwd runs with
// gid = uid and HOME=/; supplementary groups are the user's memberships in
// /etc/group, then the spec's.
func (v *view) resolveIdentity(user string, extra []string) (identity, error) {
	var users []passwdEntry
	var groups []groupEntry
	if p, ok := v.hostPath("/etc/passwd"); ok {
		users, _ = readPasswd(p)
	}
	if p, ok := v.hostPath("/etc/group"); ok {
		groups, _ = readGroup(p)
	}
	userPart, groupPart, hasGroup := strings.Cut(user, ":")
	if userPart == "" {
		userPart = "0"
	}
	var u passwdEntry
	found := false
	if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u = passwdEntry{name: userPart, uid: uint32(n), gid: uint32(n), home: "/"}
		for _, e := range users {
			if e.uid == uint32(n) {
				u, found = e, true
				break
			}
		}
		if n == 0 && !found {
			u = passwdEntry{name: "root", home: "/root"}
		}
	} else {
		for _, e := range users {
			if e.name == userPart {
				u, found = e, true
				break
			}
		}
		if !found {
			return identity{}, fmt.Errorf("user %q not found in the container's /etc/passwd", userPart)
		}
	}
	if hasGroup {
		gid, err := lookupGroup(groupPart, groups)
		if err != nil {
			return identity{}, err
		}
		u.gid = gid
	}
	id := identity{UID: u.uid, GID: u.gid, Name: u.name, Home: u.home}
	seen := map[uint32]bool{}
	add := func(g uint32) {
		if !seen[g] {
			seen[g] = true
			id.SupGIDs = append(id.SupGIDs, g)
		}
	}
	if found {
		for _, g := range groups {
			for _, m := range g.members {
				if m == u.name {
					add(g.gid)
				}
			}
		}
	}
	for _, g := range extra {
		gid, err := lookupGroup(g, groups)
		if err != nil {
			return identity{}, fmt.Errorf("supplementary_groups: %w", err)
		}
		add(gid)
	}
	return id, nil
}

func lookupGroup(g string, groups []groupEntry) (uint32, error) {
	if n, err := strconv.ParseUint(g, 10, 32); err == nil {
		return uint32(n), nil
	}
	for _, e := range groups {
		if e.name == g {
			return e.gid, nil
		}
	}
	return 0, fmt.Errorf("group %q not found in the container's /etc/group", g)
}

func readPasswd(path string) ([]passwdEntry, error) {
	var out []passwdEntry
	err := eachLine(path, func(f []string) {
		if len(f) < 6 {
			return
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 == nil && err2 == nil {
			out = append(out, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]})
		}
	})
	return out, err
}

func readGroup(path string) ([]groupEntry, error) {
	var out []groupEntry
	err := eachLine(path, func(f []string) {
		if len(f) < 4 {
			return
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, groupEntry{name: f[0], gid: uint32(gid), members: members})
	})
	return out, err
}

func eachLine(path string, fn func([]string)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fn(strings.Split(line, ":"))
	}
	return sc.Err()
}
