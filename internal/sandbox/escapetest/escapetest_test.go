package escapetest

import (
	"bytes"
	"strings"
	"testing"
)

// TestPrintParse: what Print writes, Parse reads back, from among other
// journal lines; outcomes keep their spaces.
func TestPrintParse(t *testing.T) {
	in := []Attempt{{"mount", "EPERM"}, {"read-kcore", "read 5 bytes"}, {"caps", "CapInh=0 CapPrm=0"}}
	var b bytes.Buffer
	if err := Print(&b, in); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\t\r") {
		t.Errorf("control characters in %q", b.String())
	}
	lines := append([]string{"nucleus-exec: x: landlock: ABI 7"}, strings.Split(b.String(), "\n")...)
	got := Parse(lines)
	if len(got) != len(in) {
		t.Fatalf("parsed %v from %q", got, b.String())
	}
	for _, a := range in {
		if got[a.Name] != a.Outcome {
			t.Errorf("%s: %q, want %q", a.Name, got[a.Name], a.Outcome)
		}
	}
	if !strings.HasSuffix(b.String(), DoneLine+"\n") {
		t.Errorf("no %q at the end of %q", DoneLine, b.String())
	}
}

func TestCheck(t *testing.T) {
	c := Case{Name: "mount", Want: []string{"EPERM", "EACCES"}}
	for _, tc := range []struct {
		got map[string]string
		ok  bool
	}{
		{map[string]string{"mount": "EACCES"}, true},
		{map[string]string{"mount": "ok"}, false},
		{map[string]string{}, false},
	} {
		if err := c.Check(tc.got); (err == nil) != tc.ok {
			t.Errorf("Check(%v) = %v", tc.got, err)
		}
	}
}
