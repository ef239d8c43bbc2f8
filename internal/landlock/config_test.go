package landlock

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigByABI: what the domain restricts and grants at each ABI, for
// the same rules (best effort down the ABI list without needing older
// kernels). Rules render as go-landlock prints them.
func TestConfigByABI(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rules := Rules{
		Read:       []string{dir},
		Write:      []string{file},
		Execute:    []string{filepath.Join(dir, "missing")},
		TCPBind:    []uint16{8080},
		TCPConnect: []uint16{5432},
	}
	tests := []struct {
		abi  int
		want []string // substrings of the config, then of each rule
	}{
		{1, []string{"Net: ∅", "Scoped: ∅",
			"{read_file,read_dir}", "{write_file,read_file}"}},
		{2, []string{"Net: ∅", "Scoped: ∅", "refer",
			"{read_file,read_dir}", "{write_file,read_file}"}},
		{3, []string{"Net: ∅", "Scoped: ∅", "truncate",
			"{read_file,read_dir}", "{write_file,read_file,truncate}"}},
		{4, []string{"Net: all", "Scoped: ∅",
			"{read_file,read_dir}", "{write_file,read_file,truncate}", "bind_tcp", "connect_tcp"}},
		{5, []string{"Net: all", "Scoped: ∅", "ioctl_dev",
			"{read_file,read_dir}", "{write_file,read_file,truncate,ioctl_dev}", "bind_tcp", "connect_tcp"}},
		{6, []string{"Net: all", "Scoped: all",
			"{read_file,read_dir}", "{write_file,read_file,truncate,ioctl_dev}", "bind_tcp", "connect_tcp"}},
		{7, []string{"Net: all", "Scoped: all", "flags:",
			"{read_file,read_dir}", "{write_file,read_file,truncate,ioctl_dev}", "bind_tcp", "connect_tcp"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("abi%d", tt.abi), func(t *testing.T) {
			cfg, rs, err := rules.config(tt.abi)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString(cfg.String())
			for _, r := range rs {
				fmt.Fprintf(&b, "\n%v", r)
			}
			got := b.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("ABI %d: %q lacks %q", tt.abi, got, w)
				}
			}
			if strings.Contains(got, "missing") {
				t.Errorf("ABI %d: the missing path got a rule: %s", tt.abi, got)
			}
			if strings.Contains(got, "resolve_unix") || strings.Contains(got, "udp") {
				t.Errorf("ABI %d: restricts more than documented: %s", tt.abi, got)
			}
			wantRules := 2
			if tt.abi >= 4 {
				wantRules = 4
			}
			if len(rs) != wantRules {
				t.Errorf("ABI %d: %d rules, want %d:\n%s", tt.abi, len(rs), wantRules, got)
			}
		})
	}
}
