package golden

import "testing"

func TestFirstDiff(t *testing.T) {
	tests := []struct{ want, got, diff string }{
		{"a\nb\n", "a\nc\n", "line 2:\n  file: \"b\"\n  now:  \"c\""},
		{"a\n", "a\nextra\n", "line 2:\n  file: \"\"\n  now:  \"extra\""},
		{"same", "same", "(no line differs)"},
	}
	for _, tt := range tests {
		if d := firstDiff([]byte(tt.want), []byte(tt.got)); d != tt.diff {
			t.Errorf("firstDiff(%q, %q) = %q, want %q", tt.want, tt.got, d, tt.diff)
		}
	}
}
