//go:build sandboxtrace

package sandbox

import (
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// With -tags sandboxtrace, Start and init note when each phase of a start
// ends (CLOCK_MONOTONIC, so the two processes' times compare) and write
// them to stderr as "WHO MICROSECONDS PHASE" lines: init when it exits,
// Start once it has collected init. bench/start/phases.sh compares the
// phases of two commits this way, interleaving their runs, which shows
// differences of ~10 µs on a machine too busy for whole-start timings.

var (
	traceTimes  [64]int64
	tracePhases [64]string
	traceN      atomic.Int32
)

func tracePhase(phase string) {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	if i := traceN.Add(1) - 1; int(i) < len(traceTimes) {
		traceTimes[i], tracePhases[i] = ts.Nano(), phase
	}
}

func traceDump(who string) {
	var b []byte
	for i := 0; i < int(min(traceN.Load(), int32(len(traceTimes)))); i++ {
		b = append(b, who...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, traceTimes[i]/1000, 10)
		b = append(b, ' ')
		b = append(b, tracePhases[i]...)
		b = append(b, '\n')
	}
	_, _ = unix.Write(2, b)
}
