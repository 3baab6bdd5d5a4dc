package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/zpipe/zpipe/engine"
)

// progressModes lists the values of --progress.
const progressModes = "auto, bar, lines, json or none"

// progressPrinter renders the engine's progress stream: a bar per stage on
// a terminal, a line per stage every few seconds otherwise, or the raw
// ndjson events.
type progressPrinter struct {
	mode     string
	w        io.Writer
	interval time.Duration
	// quiet lines mode prints only the periodic lines, so that a short run
	// in CI adds nothing to its log.
	quiet bool
	// workers, when set, says who answered how many items of a
	// distributed run, for the periodic lines.
	workers func() string

	mu    sync.Mutex
	last  map[string]engine.Progress
	bars  map[string]*progressbar.ProgressBar
	enc   *json.Encoder
	err   error // the first failed write of an event
	stop  chan struct{}
	ticks sync.WaitGroup
}

// newProgress resolves auto: a bar when stderr is a terminal, else quiet
// lines.
func newProgress(mode string, stdout, stderr io.Writer, interval time.Duration) (*progressPrinter, error) {
	p := &progressPrinter{mode: mode, w: stderr, interval: interval, last: map[string]engine.Progress{}, bars: map[string]*progressbar.ProgressBar{}}
	switch mode {
	case "auto":
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			p.mode = "bar"
		} else {
			p.mode, p.quiet = "lines", true
		}
	case "bar", "lines", "none":
	case "json":
		p.w = stdout
		p.enc = json.NewEncoder(stdout)
	default:
		return nil, usageError{fmt.Errorf("--progress %q: use %s", mode, progressModes)}
	}
	if p.mode == "lines" && interval > 0 {
		p.stop = make(chan struct{})
		p.ticks.Add(1)
		go p.tick()
	}
	return p, nil
}

// handle receives one event from the engine.
func (p *progressPrinter) handle(e engine.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "json":
		if err := p.enc.Encode(e); err != nil && p.err == nil {
			p.err = err
		}
	case "lines":
		switch e.Type {
		case engine.ProgressStart:
			p.last[e.Name] = e
			if !p.quiet {
				fmt.Fprintf(p.w, "%s: started, %d items\n", e.Name, e.Total)
			}
		case engine.ProgressUpdate:
			p.last[e.Name] = e
		case engine.ProgressComplete:
			delete(p.last, e.Name)
			if !p.quiet {
				p.line(e, "done")
			}
		}
	case "bar":
		switch e.Type {
		case engine.ProgressStart:
			p.bars[e.Name] = progressbar.NewOptions(e.Total, progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(e.Name), progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
		case engine.ProgressUpdate:
			if b := p.bars[e.Name]; b != nil {
				b.Set(e.Completed)
			}
		case engine.ProgressComplete:
			if b := p.bars[e.Name]; b != nil {
				b.Finish()
				delete(p.bars, e.Name)
			}
		}
	}
}

func (p *progressPrinter) line(e engine.Progress, state string) {
	by := ""
	if p.workers != nil {
		if by = p.workers(); by != "" {
			by = "; by worker: " + by
		}
	}
	fmt.Fprintf(p.w, "%s: %d/%d items (%.0f%%), %d records, %d failed, %s%s\n",
		e.Name, e.Completed, e.Total, e.Percentage, e.Records, e.Failed, state, by)
}

// tick prints a line for every running stage at each interval.
func (p *progressPrinter) tick() {
	defer p.ticks.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			for _, e := range p.last {
				p.line(e, "running")
			}
			p.mu.Unlock()
		}
	}
}

// close stops the ticker and clears any bar still drawn. It returns the
// first error writing the events, which a consumer of them must hear of.
func (p *progressPrinter) close() error {
	if p.stop != nil {
		close(p.stop)
		p.ticks.Wait()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, b := range p.bars {
		b.Exit()
		delete(p.bars, name)
	}
	return p.err
}
