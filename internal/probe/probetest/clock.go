// Package probetest provides a fake probe.Clock for tests of the probe loops
// and of the supervisor. It must not be imported by non-test code.
package probetest

import (
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/probe"
)

// FakeClock is a probe.Clock that moves only when Advance is called. Tests
// use BlockUntil to wait until the code under test is waiting on a timer, so
// that every step is deterministic without real sleeps.
type FakeClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	pending []*fakeTimer
	expired bool // WaitPending's hang guard fired
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock {
	c := &FakeClock{now: start}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock reaches now+d.
func (c *FakeClock) NewTimer(d time.Duration) probe.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.pending = append(c.pending, t)
	c.cond.Broadcast()
	return t
}

// Advance moves the clock by d and fires, in deadline order, every timer
// due by then.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	sort.SliceStable(c.pending, func(i, j int) bool { return c.pending[i].when.Before(c.pending[j].when) })
	kept := c.pending[:0]
	for _, t := range c.pending {
		if t.when.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- t.when
	}
	c.pending = kept
	c.cond.Broadcast()
}

// WaitPending waits until the pending timers (created, not fired, not
// stopped) fire exactly want from now, in any order: the code under test has
// settled and waits on exactly those timers. It fails tb, showing what is
// pending instead, if that does not happen within 20 s of real time (a
// hang guard: a loop that never settles is a bug).
func (c *FakeClock) WaitPending(tb testing.TB, want ...time.Duration) {
	tb.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	guard := time.AfterFunc(20*time.Second, func() {
		c.mu.Lock()
		c.expired = true
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer guard.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expired = false
	for !slices.Equal(c.pendingLocked(), want) {
		if c.expired {
			tb.Fatalf("fake clock: pending timers %v, want %v", c.pendingLocked(), want)
		}
		c.cond.Wait()
	}
}

// Pending returns how far ahead of now each pending timer fires, soonest
// first.
func (c *FakeClock) Pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pendingLocked()
}

func (c *FakeClock) pendingLocked() []time.Duration {
	ds := []time.Duration{}
	for _, t := range c.pending {
		ds = append(ds, t.when.Sub(c.now))
	}
	slices.Sort(ds)
	return ds
}

type fakeTimer struct {
	clock *FakeClock
	when  time.Time
	ch    chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pending {
		if p == t {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			c.cond.Broadcast()
			return true
		}
	}
	return false
}
