package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
	stdout, stderr io.Writer
	log            *log.Logger
	logLevel       string
}

// Main runs zpipe with os.Args and returns its exit code: 0 all good, 1 some
// records or items failed, 2 a usage or manifest error, 130 interrupted.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	a.log = log.NewWithOptions(os.Stderr, log.Options{})
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
	if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "flag") || strings.Contains(err.Error(), "arg(s)") {
		a.printError(err)
		return 2
	}
	a.printError(err)
	return 1
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
			return nil
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "how much to log on stderr: debug, info, warn or error")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.runCmd(), a.checkCmd(), a.versionCmd())
	return root
}
