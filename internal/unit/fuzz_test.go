package unit

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRoundTrip renders a spec whose description, command and environment
// are arbitrary strings (each field alone, then all together), reads the
// unit back by systemd's rules, and requires that
//   - the values decode to exactly the originals,
//   - the unit has exactly the directives of a plain spec (nothing injected),
//   - Render refuses only what systemd cannot represent: a NUL byte, an
//     environment name with '=' or empty, a first command word that is
//     empty, ";" or starts with one of ExecStart='s prefixes -@:+!, or
//     (description only, which systemd does not unquote) control
//     characters, invalid UTF-8, leading or trailing blanks, or a trailing
//     backslash.
//
// Run: go test ./internal/unit -run '^$' -fuzz FuzzRoundTrip -fuzztime 5m
func FuzzRoundTrip(f *testing.F) {
	f.Add("Example web server", "/usr/bin/python3", "-m", "APP_ENV", "prod")
	f.Add("100% \"real\" \\ desc", "/bin/sh", "-c 'echo $HOME; exit 1'", "PATH", "/usr/bin:/bin")
	f.Add("", "%n", "%%", "A", "%h")
	f.Add("x\n[Service]\nExecStartPre=/bin/evil", "a\nExecStartPre=/bin/evil", "\\", "B", "line\nExecStart=/x")
	f.Add("trailing\\", "\\", "\";\"", "C", "\\\\\\")
	f.Add(" lead", ";", "", "D", "'quoted'")
	f.Add("é ü 中文", "\xff\xfe", "\x01\x7f\t\r", "E", "tab\there")
	f.Add("#not a comment", "#", ";x", "F_1", "$$ ${X} $X")
	f.Add("ends with two \\\\", "\\;", "a\\;", "G", "=")
	f.Add("a\rb", "\"", "'", "H", "\"unbalanced")
	f.Fuzz(func(t *testing.T, desc, arg0, arg1, envKey, envVal string) {
		// Each field alone, then all together: a justified refusal of one
		// field must not hide a broken encoding of another.
		roundTrip(t, desc, []string{"/bin/true"}, nil)
		roundTrip(t, "", []string{arg0, arg1}, nil)
		roundTrip(t, "", []string{"/bin/true"}, map[string]string{envKey: envVal})
		roundTrip(t, desc, []string{arg0, arg1}, map[string]string{envKey: envVal})
	})
}

func roundTrip(t *testing.T, desc string, argv []string, env map[string]string) {
	t.Helper()
	s := baseSpec()
	s.Description = desc
	s.Exec.Command = argv
	s.Exec.Environment = env
	out, err := Render(s, Options{ExecPath: testExec})
	if err != nil {
		checkRefusal(t, err, desc, argv, env)
		return
	}
	got := decodeUnit(t, string(out))
	wantDesc := desc
	if desc == "" {
		wantDesc = "nucleus container web"
	}
	want := minimalUnit(wantDesc, argv)
	for k, v := range env { // at most one variable
		want = append(want, decoded{"X-Nucleus", "Environment", []string{k + "=" + v}})
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs\n got: %q\nwant: %q\nunit:\n%s", got, want, out)
	}
}

// checkRefusal fails unless err is a refusal the inputs justify.
func checkRefusal(t *testing.T, err error, desc string, argv []string, env map[string]string) {
	t.Helper()
	for _, e := range unwrapAll(err) {
		var ue *Error
		if !errors.As(e, &ue) {
			t.Fatalf("Render error %v is not a *unit.Error", e)
		}
		justified := false
		switch ue.Key {
		case "description":
			justified = strings.IndexByte(desc, 0) >= 0 || !utf8.ValidString(desc) ||
				strings.ContainsFunc(desc, func(r rune) bool { return r < 0x20 || r == 0x7f }) ||
				strings.HasPrefix(desc, " ") || strings.HasSuffix(desc, " ") || strings.HasSuffix(desc, "\\")
		case "[exec] command":
			a0 := argv[0]
			justified = strings.Contains(strings.Join(argv, ""), "\x00") || a0 == "" || a0 == ";" || strings.IndexByte("-@:+!", a0[0]) >= 0
		case "[exec] environment":
			for k, v := range env {
				justified = k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0
			}
		}
		if !justified {
			t.Fatalf("Render refused representable input: %v\ndesc=%q argv=%q env=%q", e, desc, argv, env)
		}
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
