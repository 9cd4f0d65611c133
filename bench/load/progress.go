package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress reports a phase while it runs: a redrawn bar on a terminal,
// plain lines every interval otherwise (CI logs, pipes, bench/peer/run.sh).
type progress struct {
	w        io.Writer
	tty      bool
	label    string
	total    int
	interval time.Duration
	start    time.Time

	done, errs atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
}

// isTerminal reports whether f is a character device, which is how a
// terminal looks to a program; pipes and files are not.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func startProgress(w io.Writer, tty bool, label string, total int, interval time.Duration) *progress {
	p := &progress{w: w, tty: tty, label: label, total: total, interval: interval, start: time.Now(), stop: make(chan struct{})}
	tick := interval
	if tty {
		tick = 200 * time.Millisecond
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) add(failed bool) {
	p.done.Add(1)
	if failed {
		p.errs.Add(1)
	}
}

func (p *progress) draw() {
	d, e, el := int(p.done.Load()), int(p.errs.Load()), time.Since(p.start)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s", barLine(p.label, d, p.total, e, el, 30))
		return
	}
	fmt.Fprintln(p.w, plainLine(p.label, d, p.total, e, el))
}

// finish stops the reporter and draws the final state once.
func (p *progress) finish() {
	close(p.stop)
	p.wg.Wait()
	p.draw()
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// barLine is one frame of the terminal bar.
func barLine(label string, done, total, errs int, elapsed time.Duration, width int) string {
	filled := 0
	if total > 0 {
		filled = min(width, done*width/total)
	}
	pct := 0
	if total > 0 {
		pct = done * 100 / total
	}
	return fmt.Sprintf("%-22s [%s%s] %d/%d %3d%% %7.1f/s %d err ", label,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, pct, rate(done, elapsed), errs)
}

// plainLine is one periodic line for logs.
func plainLine(label string, done, total, errs int, elapsed time.Duration) string {
	return fmt.Sprintf("%s: %d/%d done, %.1f/s, %d errors, %.0f s", label, done, total, rate(done, elapsed), errs, elapsed.Seconds())
}

func rate(done int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(done) / elapsed.Seconds()
}
