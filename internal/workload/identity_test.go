package workload

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// inDir locates the container's files under dir (testdata/etc holds a
// passwd with a comment and a malformed line, and a group).
func inDir(dir string) Locator {
	return func(inside string) (string, bool) { return filepath.Join(dir, inside), true }
}

func TestResolve(t *testing.T) {
	testdata := inDir("testdata")
	absent := func(string) (string, bool) { return "", false }
	cases := []struct {
		name   string
		locate Locator
		user   string
		groups []string
		want   Identity
		err    string
	}{
		{"root by default", testdata, "", nil, Identity{UID: 0, GID: 0, Name: "root", Home: "/root"}, ""},
		{"name with memberships", testdata, "app", nil, Identity{UID: 1000, GID: 1000, SupGIDs: []uint32{29, 44}, Name: "app", Home: "/home/app"}, ""},
		{"name:group", testdata, "svc:audio", nil, Identity{UID: 1001, GID: 29, SupGIDs: []uint32{29}, Name: "svc", Home: "/srv"}, ""},
		{"uid in passwd, spec groups after memberships", testdata, "1000", []string{"svc", "7", "audio"}, Identity{UID: 1000, GID: 1000, SupGIDs: []uint32{29, 44, 1001, 7}, Name: "app", Home: "/home/app"}, ""},
		{"uid not in passwd", testdata, "5000", nil, Identity{UID: 5000, GID: 5000, Name: "5000", Home: "/"}, ""},
		{"uid:gid not in files", testdata, "5000:6000", nil, Identity{UID: 5000, GID: 6000, Name: "5000", Home: "/"}, ""},
		{"no files: root", absent, "", nil, Identity{Name: "root", Home: "/root"}, ""},
		{"no files: numbers", absent, "7:8", []string{"9"}, Identity{UID: 7, GID: 8, SupGIDs: []uint32{9}, Name: "7", Home: "/"}, ""},
		{"unreadable files read as empty", inDir("testdata/missing"), "0", nil, Identity{Name: "root", Home: "/root"}, ""},
		{"no files: name", absent, "app", nil, Identity{}, `user "app" not found in the container's /etc/passwd`},
		{"unknown user", testdata, "nobody", nil, Identity{}, `user "nobody" not found in the container's /etc/passwd`},
		{"malformed line is no user", testdata, "broken-line", nil, Identity{}, `user "broken-line" not found`},
		{"unknown primary group", testdata, "app:nogroup", nil, Identity{}, `group "nogroup" not found in the container's /etc/group`},
		{"unknown supplementary group", testdata, "app", []string{"nogroup"}, Identity{}, `supplementary_groups: group "nogroup" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.locate, tc.user, tc.groups)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("Resolve(%q, %v) error = %v, want %q", tc.user, tc.groups, err, tc.err)
				}
			case err != nil:
				t.Errorf("Resolve(%q, %v): %v", tc.user, tc.groups, err)
			case !reflect.DeepEqual(got, tc.want):
				t.Errorf("Resolve(%q, %v) = %+v, want %+v", tc.user, tc.groups, got, tc.want)
			}
		})
	}
}

// TestResolveLooksUpBothFiles: the locator is asked for exactly the
// container's /etc/passwd and /etc/group.
func TestResolveLooksUpBothFiles(t *testing.T) {
	var asked []string
	_, _ = Resolve(func(inside string) (string, bool) {
		asked = append(asked, inside)
		return "", false
	}, "", nil)
	if want := []string{"/etc/passwd", "/etc/group"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("looked up %q, want %q", asked, want)
	}
}
