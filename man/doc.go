// Package man holds nucleus's manual pages, written directly in roff:
// nucleus.toml(5), nucleus-generator(8) and nucleus-exec(8). It has no Go
// code of its own; its tests check that every page renders without a
// warning and that nucleus.toml(5) documents exactly the keys of spec
// format v1 with examples the spec loader accepts.
//
// It must not be imported by anything: `make install` copies the pages.
package man
