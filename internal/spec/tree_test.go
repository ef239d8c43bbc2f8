package spec

import "testing"

// tomlRuleDocs are documents at the edges of TOML's rules for defining keys
// and tables (from the TOML 1.0 text and toml-test's invalid cases), each
// with whether it is valid.
var tomlRuleDocs = []struct {
	doc   string
	valid bool
}{
	{"a = 1\na = 2\n", false},
	{"[a]\n[a]\n", false},
	{"[a.b]\n[a]\n", true},
	{"[a]\n[a.b]\n[a]\n", false},
	{"[fruit]\napple.color = 1\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n", true},
	{"[fruit]\napple.color = 1\n[fruit.apple]\n", false},
	{"[fruit]\napple.taste.sweet = true\n[fruit.apple.taste]\n", false},
	{"[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n", false},
	{"[a.b.c.d]\nz = 9\n[a]\nb.c.d.k.t = 1\n", false},
	{"a.b = 1\n[a]\n", false},
	{"a.b = 1\n[a.c]\n", true},
	{"a = false\na.b = true\n", false},
	{"a = {}\n[a]\n", false},
	{"a = {}\n[a.b]\n", false},
	{"a = { b.c = 1 }\n[a.b]\n", false},
	{"a = { b.c = 1, b.d = 2 }\n", true},
	{"a = { b.c = 1, b = 2 }\n", false},
	{"a = { b = { c = 1 }, b.d = 2 }\n", false},
	{"a = { b = 1, b = 2 }\n", false},
	{"a = [1]\n[[a]]\n", false},
	{"a = []\n[a.b]\n", false},
	{"[[a]]\n[a]\n", false},
	{"[a]\n[[a]]\n", false},
	{"[[a]]\nx = 1\n[[a]]\nx = 2\n[a.b]\ny = 1\n[[a.c]]\n", true},
	{"[[a]]\n[a.b]\n[[a]]\n[a.b]\n", true},
	{"[[a]]\n[a.b]\n[a.b]\n", false},
	{"[[a.b]]\n[a]\nc = 1\n", true},
	{"[a.b]\n[[a]]\n", false},
	{"[[a.b]]\n[[a]]\n", false},
	{"a = [{ b = 1 }]\n[a.c]\n", false},
	{"[a]\nb = { c = 1 }\n[a.b.d]\n", false},
	{"a = 1 # c\n[b] # c\nc = [ # c\n 1, # c\n] # c\n", true},
	{"[a]\nb = 1\n[a.b]\n", false},
	{"[a]\nb.c = 1\n[a.b.c]\n", false},
	{"x = 9223372036854775807\ny = -9223372036854775808\n", true},
	{"x = 9223372036854775808\n", false},
	{"x = 0x7fffffffffffffff\n", true},
	{"x = 0x8000000000000000\n", false},
	{"x = 1_000\ny = 0b1_0\nz = 0o7_7\nf = 1_0.5e1_0\ng = -inf\nh = nan\n", true},
	{"x = 1e400\n", false},
	{"d = 1979-05-27\nt = 07:32:00\nl = 1979-05-27T07:32:00\no = 1979-05-27T07:32:00Z\n", true},
	{"d = 1979-13-27\n", false},
	{"'quoted.key' = 1\n\"a\\u0062\" = 2\nab = 3\n", false},
}

// TestTreeBuilderFollowsTOML checks the builder against go-toml's own
// decoder and against the expected verdict, value for value.
func TestTreeBuilderFollowsTOML(t *testing.T) {
	for _, tt := range tomlRuleDocs {
		_, err := buildTree(0, []byte(tt.doc))
		if (err == nil) != tt.valid {
			t.Errorf("%q: builder error %v, want valid=%v", tt.doc, err, tt.valid)
		}
		checkAgainstDecoder(t, []byte(tt.doc))
	}
}
