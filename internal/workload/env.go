package workload

import (
	"sort"
	"strings"
)

// DefaultPath is the PATH every workload starts with (the spec may
// override it).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// NotifySocket is where the notify socket appears inside the container
// (ARCHITECTURE.md's contract).
const NotifySocket = "/run/nucleus/notify"

// Env is the workload's environment without HOME and USER (WithUser adds
// them once the user is resolved), sorted: PATH=DefaultPath,
// container=nucleus, HOSTNAME=hostname, NOTIFY_SOCKET=NotifySocket when
// notify, then vars (the spec's [exec] environment, already validated by
// spec) on top. Nothing of the caller's own environment is passed.
func Env(vars map[string]string, hostname string, notify bool) []string {
	env := map[string]string{
		"PATH":      DefaultPath,
		"container": "nucleus",
		"HOSTNAME":  hostname,
	}
	if notify {
		env["NOTIFY_SOCKET"] = NotifySocket
	}
	for k, v := range vars {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// WithUser adds HOME and USER of id to env, each unless env already sets it
// (then it came from the spec, whose values win), and keeps env sorted.
func WithUser(env []string, id Identity) []string {
	out := env
	if !hasVar(env, "HOME") {
		out = append(out, "HOME="+id.Home)
	}
	if !hasVar(env, "USER") {
		out = append(out, "USER="+id.Name)
	}
	sort.Strings(out)
	return out
}

// EnvValue returns the value of key in env ("" when unset).
func EnvValue(env []string, key string) string {
	v, _ := lookupEnv(env, key)
	return v
}

func hasVar(env []string, key string) bool {
	_, ok := lookupEnv(env, key)
	return ok
}

func lookupEnv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}
