package spec

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem in one spec file. Every validation and syntax error
// carries the file and the line it was found on (Line 0 means the whole
// file, e.g. a permission problem or a missing required key), and the key as
// a user would look for it in the file: "[resources] memory",
// "[[mount]] #2 target", or a top-level "description".
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

// Error formats the error as "FILE:LINE: KEY: MSG". When Line is 0 the
// ":LINE" part is left out, and when Key is "" the "KEY: " part is, so a
// whole-file problem reads "FILE: MSG" (and one with no file, just "MSG").
func (e *Error) Error() string {
	var b strings.Builder
	b.Grow(len(e.File) + len(e.Key) + len(e.Msg) + 16)
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every error found in a spec. Load returns it sorted by file
// (in merge order: the main file, then its drop-ins) and then by line.
type ErrorList []*Error

// Error joins the errors with newlines.
func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// sortBy orders the list by file (files' position in order, unknown files
// after, by name), then line, key and message, so the order is total and
// goldens are stable.
func (l ErrorList) sortBy(order []string) {
	rank := func(f string) int {
		for i, o := range order {
			if o == f {
				return i
			}
		}
		return len(order)
	}
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if ra, rb := rank(a.File), rank(b.File); ra != rb {
			return ra < rb
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Msg < b.Msg
	})
}

// suggest returns the candidate closest to word by edit distance (with
// transpositions, so "memroy" is one edit from "memory"), or "" when nothing
// is close enough to be a plausible typo.
func suggest(word string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist >= len(word) {
		return ""
	}
	return best
}

// didYouMean is suggest formatted as a message suffix.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return " (did you mean " + strconv.Quote(s) + "?)"
	}
	return ""
}

// editDistance is the optimal-string-alignment distance between a and b
// (Levenshtein plus adjacent transpositions), on bytes: spec keys are ASCII.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Nothing that long is a typo of a short key; keep the cost bounded.
		return 1 << 20
	}
	var rows [3][65]int
	prev2, prev, cur := rows[0][:len(b)+1], rows[1][:len(b)+1], rows[2][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
