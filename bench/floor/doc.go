// Package floor holds the benchmarks' reference floors: the least a Go
// program can cost on this machine, measured in the same run as nucleus and
// its neighbours so that a target below the floor shows as such.
//
//   - idle: a Go program that only waits for SIGTERM; its PSS is the memory
//     floor of any resident Go supervisor (bench/supervision).
//   - start: a Go parent that starts a child in the six namespaces of
//     nucleus's default isolation and waits for it; the child is a second Go
//     runtime that runs /bin/true (the suggested process model: supervisor,
//     init, workload, with nothing else done), or, with "direct", /bin/true
//     itself (no init at all). bench/start times both.
//
// Nothing in nucleus imports this package.
package floor
