package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// passwdEntry is one line of the container's /etc/passwd.
type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// groupEntry is one line of the container's /etc/group.
type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// resolveIdentity fills UID, GID, SupGIDs and HOME/USER from the container's
// /etc/passwd and /etc/group, the container's root being at root (init
// runs it on the assembled /newroot before pivot_root; the paths resolve
// inside root, so a symlinked /etc/passwd in a rootfs cannot point at a
// host file). User forms: "" (root), NAME, UID, and USER:GROUP where each
// side is a name or a number. A numeric uid that is not in passwd runs with
// gid = uid and HOME=/.
func resolveIdentity(ep *execPlan, root string) error {
	var users []passwdEntry
	var groups []groupEntry
	if path, err := securejoin.SecureJoin(root, "/etc/passwd"); err == nil {
		users, _ = readPasswd(path)
	}
	if path, err := securejoin.SecureJoin(root, "/etc/group"); err == nil {
		groups, _ = readGroup(path)
	}
	userPart, groupPart, hasGroup := strings.Cut(ep.User, ":")
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
			return fmt.Errorf("user %q not found in the container's /etc/passwd", userPart)
		}
	}
	if hasGroup {
		gid, err := lookupGroup(groupPart, groups)
		if err != nil {
			return err
		}
		u.gid = gid
	}
	ep.UID, ep.GID = u.uid, u.gid

	// Supplementary groups: the user's memberships in /etc/group (as
	// initgroups does), then the spec's.
	seen := map[uint32]bool{}
	ep.SupGIDs = nil
	add := func(g uint32) {
		if !seen[g] {
			seen[g] = true
			ep.SupGIDs = append(ep.SupGIDs, g)
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
	for _, g := range ep.Groups {
		gid, err := lookupGroup(g, groups)
		if err != nil {
			return fmt.Errorf("supplementary_groups: %w", err)
		}
		add(gid)
	}
	ep.Env = append(ep.Env, "HOME="+u.home, "USER="+u.name)
	if envValue(ep.Env[:len(ep.Env)-2], "HOME") != "" || envValue(ep.Env[:len(ep.Env)-2], "USER") != "" {
		// The spec set them: its values win.
		ep.Env = ep.Env[:len(ep.Env)-2]
	}
	return nil
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
		if err1 != nil || err2 != nil {
			return
		}
		out = append(out, passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]})
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
