package generator

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestLogRecords(t *testing.T) {
	long := strings.Repeat("é", 700) + strings.Repeat("x", 900) // 2300 bytes, runes straddle the cut
	tests := []struct {
		name, msg string
		records   int
	}{
		{"short", "spec.toml:3: [exec] command: missing", 1},
		{"multi-line", "first\nsecond\nthird", 3},
		{"too long for one kernel record", long, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kmsg := filepath.Join(t.TempDir(), "kmsg")
			if err := os.WriteFile(kmsg, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			l := openLog(kmsg, nil, false)
			l.errorf("%s", tt.msg)
			l.debugf("not shown without -v")
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(kmsg)
			if err != nil {
				t.Fatal(err)
			}
			recs := strings.SplitAfter(string(data), "\n")
			recs = recs[:len(recs)-1]
			if len(recs) != tt.records {
				t.Fatalf("%d records, want %d: %q", len(recs), tt.records, data)
			}
			re := regexp.MustCompile(`^<3>nucleus-generator\[[0-9]+\]: (…?)(.*)\n$`)
			var body strings.Builder
			for i, r := range recs {
				if len(r) > kmsgRecordMax {
					t.Errorf("record %d is %d bytes, /dev/kmsg takes at most %d", i, len(r), kmsgRecordMax)
				}
				m := re.FindStringSubmatch(r)
				if m == nil {
					t.Fatalf("record %q is not <3>nucleus-generator[PID]: msg", r)
				}
				if i > 0 && tt.records > 1 && !strings.Contains(tt.msg, "\n") {
					if m[1] == "" {
						t.Errorf("continuation record %d lacks the … mark", i)
					}
				} else {
					body.WriteString(m[1])
				}
				body.WriteString(m[2])
				if strings.Contains(tt.msg, "\n") && i < len(recs)-1 {
					body.WriteString("\n")
				}
			}
			if body.String() != tt.msg {
				t.Errorf("records do not add up to the message:\n got %q\nwant %q", body.String(), tt.msg)
			}
		})
	}
}

func TestLogStderrFallback(t *testing.T) {
	var stderr bytes.Buffer
	l := openLog(filepath.Join(t.TempDir(), "missing", "kmsg"), &stderr, true)
	l.errorf("a: b")
	l.debugf("c")
	if got, want := stderr.String(), "nucleus-generator: a: b\nnucleus-generator: c\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}
