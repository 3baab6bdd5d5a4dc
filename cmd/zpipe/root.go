package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/charmbracelet/log"
	"github.com/spf13/cobra"
)

// exitCoder is an error that decides zpipe's exit code.
type exitCoder interface {
	error
	ExitCode() int
}

// exitError carries an exit code for a result that is not an error to
// print, such as a run with failed records, whose details are already out.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
func (e exitError) ExitCode() int { return e.code }

// usageError is a mistake in how zpipe was called.
type usageError struct{ error }

func (usageError) ExitCode() int { return 2 }

type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *log.Logger
	logLevel       string
	// stop is closed at the first SIGINT or SIGTERM: finish what is in
	// flight, start nothing new. The command's context is cancelled at the
	// second signal, or when the grace period runs out.
	stop  chan struct{}
	grace time.Duration
	// graceNow is grace for handleSignals, which may hear a signal while
	// the flags are still being parsed: an atomic, set once they are.
	graceNow atomic.Int64
}

// defaultGrace is --grace's default.
const defaultGrace = 10 * time.Second

// Main runs zpipe with os.Args and returns its exit code: 0 all good, 1 some
// records or items failed, 2 a usage or manifest error, 130 interrupted.
func Main() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stop: make(chan struct{})}
	a.log = log.NewWithOptions(os.Stderr, log.Options{})
	a.graceNow.Store(int64(defaultGrace))
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go a.handleSignals(signals, cancel)
	root := a.rootCmd()
	root.SetArgs(os.Args[1:])
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		if _, silent := ec.(exitError); !silent {
			a.printError(err)
		}
		return ec.ExitCode()
	}
	a.printError(err)
	if strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return 1
}

// handleSignals turns the first signal into a graceful stop and the second,
// or the end of the grace period, into cancellation.
func (a *app) handleSignals(signals <-chan os.Signal, cancel context.CancelFunc) {
	if _, ok := <-signals; !ok {
		return
	}
	grace := time.Duration(a.graceNow.Load())
	close(a.stop)
	a.log.Warn(fmt.Sprintf("stopping: letting work in flight finish for up to %s; press Ctrl-C again to stop now", grace))
	select {
	case <-signals:
	case <-time.After(grace):
	}
	cancel()
	// Cancelling stops the items and kills the CUE evaluators. What cannot
	// be told to stop, such as CUE compiling a schema in this process, has
	// the grace period to return; then the process ends as a kill would
	// end it, which the journal and the atomic outputs are made to survive.
	select {
	case <-signals:
		a.log.Error("stopped at once")
	case <-time.After(grace):
		a.log.Error("stopped at once: what was still running did not stop within --grace")
	}
	os.Exit(130)
}

// printError writes each line of an error as an error log line.
func (a *app) printError(err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		a.log.Error(line)
	}
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "zpipe",
		Short: "Validate and convert data files against CUE schemas, as declared in a pipeline manifest",
		Long: `zpipe runs pipelines declared in YAML manifests. Each stage reads records
from json, ndjson, yaml, toml, csv or tsv files, checks every record against a
CUE schema, and writes the valid ones to outputs in other formats. Invalid
records go to a rejects file with the reason.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			lvl, err := log.ParseLevel(a.logLevel)
			if err != nil {
				return usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", a.logLevel)}
			}
			a.log.SetLevel(lvl)
			if a.grace < 0 {
				return usageError{fmt.Errorf("--grace %s: a grace period cannot be negative; 0 stops at once", a.grace)}
			}
			a.graceNow.Store(int64(a.grace))
			return nil
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "how much to log on stderr: debug, info, warn or error")
	root.PersistentFlags().DurationVar(&a.grace, "grace", defaultGrace, "after Ctrl-C, how long work in flight may take to finish")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.runCmd(), a.resumeCmd(), a.planCmd(), a.watchCmd(), a.checkCmd(), a.convertCmd(), a.validateCmd(), a.versionCmd(), a.schemaCmd(), a.workerCmd(), a.credsCmd(), a.journalCmd())
	// Wrong arguments are a usage error (exit 2), as wrong flags are.
	for _, cmd := range root.Commands() {
		if args := cmd.Args; args != nil {
			cmd.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
	}
	return root
}
