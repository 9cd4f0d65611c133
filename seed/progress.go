package seed

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// bar draws one textual progress bar per phase on a single line, redrawn
// with '\r' at most every 200 ms:
//
//	certificates  [##########----------]  52.0%    520000/1000000   14.2s
type bar struct {
	w      io.Writer
	phase  string
	total  int
	start  time.Time
	last   time.Time
	active bool
}

func newBar(w io.Writer, phase string, total int) *bar {
	b := &bar{w: w, phase: phase, total: total, start: time.Now()}
	b.draw(0, true)
	return b
}

func (b *bar) set(done int) { b.draw(done, false) }

func (b *bar) draw(done int, force bool) {
	now := time.Now()
	if !force && now.Sub(b.last) < 200*time.Millisecond {
		return
	}
	b.last = now
	b.active = true
	const width = 30
	frac := 1.0
	if b.total > 0 {
		frac = min(float64(done)/float64(b.total), 1)
	}
	n := int(frac * width)
	fmt.Fprintf(b.w, "\r%-14s [%s%s] %5.1f%% %10d/%-10d %7.1fs", b.phase,
		strings.Repeat("#", n), strings.Repeat("-", width-n), frac*100, done, b.total, now.Sub(b.start).Seconds())
}

// done draws the final state and ends the line.
func (b *bar) done(n int) time.Duration {
	b.draw(n, true)
	fmt.Fprintln(b.w)
	return time.Since(b.start)
}
