package workload

import (
	"reflect"
	"testing"
)

func TestEnv(t *testing.T) {
	app := Identity{UID: 1000, Name: "app", Home: "/home/app"}
	cases := []struct {
		name     string
		vars     map[string]string
		hostname string
		notify   bool
		id       *Identity // nil: Env alone, without WithUser
		want     []string
	}{
		{"defaults", nil, "web", false, nil,
			[]string{"HOSTNAME=web", "PATH=" + DefaultPath, "container=nucleus"}},
		{"notify", nil, "web", true, nil,
			[]string{"HOSTNAME=web", "NOTIFY_SOCKET=/run/nucleus/notify", "PATH=" + DefaultPath, "container=nucleus"}},
		{"spec on top, sorted", map[string]string{"APP_ENV": "prod", "PATH": "/opt/bin", "container": "x"}, "web", false, nil,
			[]string{"APP_ENV=prod", "HOSTNAME=web", "PATH=/opt/bin", "container=x"}},
		{"with user", map[string]string{"APP_ENV": "prod"}, "web", true, &app,
			[]string{"APP_ENV=prod", "HOME=/home/app", "HOSTNAME=web", "NOTIFY_SOCKET=/run/nucleus/notify", "PATH=" + DefaultPath, "USER=app", "container=nucleus"}},
		// Each of HOME and USER is the spec's when it sets it, the
		// user's otherwise (one does not drop the other).
		{"spec HOME only", map[string]string{"HOME": "/data"}, "web", false, &app,
			[]string{"HOME=/data", "HOSTNAME=web", "PATH=" + DefaultPath, "USER=app", "container=nucleus"}},
		{"spec USER only", map[string]string{"USER": "svc"}, "web", false, &app,
			[]string{"HOME=/home/app", "HOSTNAME=web", "PATH=" + DefaultPath, "USER=svc", "container=nucleus"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Env(tc.vars, tc.hostname, tc.notify)
			if tc.id != nil {
				got = WithUser(got, *tc.id)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestEnvValue(t *testing.T) {
	env := []string{"A=1", "EMPTY=", "B=x=y", "NOEQUALS"}
	cases := []struct{ key, want string }{
		{"A", "1"}, {"B", "x=y"}, {"EMPTY", ""}, {"NOEQUALS", ""}, {"MISSING", ""}, {"", ""},
	}
	for _, tc := range cases {
		if got := EnvValue(env, tc.key); got != tc.want {
			t.Errorf("EnvValue(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}
