package workload

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Identity is the workload's resolved user.
type Identity struct {
	UID, GID uint32
	SupGIDs  []uint32 // supplementary groups, in the order they were found
	Name     string   // the user's name, or the uid as written when passwd lacks it
	Home     string
}

// Locator maps an absolute path inside the container to the host path that
// will be shown there; ok is false when nothing on the host backs it. The
// runtime that knows the container's root and mounts provides it.
type Locator func(inside string) (hostPath string, ok bool)

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

// Resolve resolves user and the supplementary groups in the container's
// /etc/passwd and /etc/group, found through locate. User forms: "" (root),
// NAME, UID, and USER:GROUP where each side is a name or a number. A
// numeric uid that is not in passwd runs with gid = uid and HOME=/ (uid 0:
// root, /root). Supplementary groups are the user's memberships in
// /etc/group (as initgroups does), then groups', each once. A missing or
// unreadable passwd or group file reads as empty.
func Resolve(locate Locator, user string, groups []string) (Identity, error) {
	var users []passwdEntry
	var known []groupEntry
	if p, ok := locate("/etc/passwd"); ok {
		users, _ = readPasswd(p)
	}
	if p, ok := locate("/etc/group"); ok {
		known, _ = readGroup(p)
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
			return Identity{}, fmt.Errorf("user %q not found in the container's /etc/passwd", userPart)
		}
	}
	if hasGroup {
		gid, err := lookupGroup(groupPart, known)
		if err != nil {
			return Identity{}, err
		}
		u.gid = gid
	}
	id := Identity{UID: u.uid, GID: u.gid, Name: u.name, Home: u.home}
	seen := map[uint32]bool{}
	add := func(g uint32) {
		if !seen[g] {
			seen[g] = true
			id.SupGIDs = append(id.SupGIDs, g)
		}
	}
	if found {
		for _, g := range known {
			for _, m := range g.members {
				if m == u.name {
					add(g.gid)
				}
			}
		}
	}
	for _, g := range groups {
		gid, err := lookupGroup(g, known)
		if err != nil {
			return Identity{}, fmt.Errorf("supplementary_groups: %w", err)
		}
		add(gid)
	}
	return id, nil
}

// lookupGroup resolves a group name or number; a number need not be in
// /etc/group.
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

// readPasswd parses an /etc/passwd; malformed lines are skipped.
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

// readGroup parses an /etc/group; malformed lines are skipped.
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

// eachLine calls fn with the colon-separated fields of each line of path
// that is neither empty nor a comment.
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
