package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
)

func (a *app) journalCmd() *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "journal [MANIFEST]",
		Short: "Print the checkpoint journal as JSON lines, one entry each",
		Long: `Journal prints the state folder's checkpoint journal as JSON lines, one
entry each, in the order they were written: the start and end of runs,
the items finished, with their fingerprints and saved parts, and the
stages assembled. The journal itself is binary; this is the way to read
it, or grep it. Nothing is changed, and no lock is taken.`,
		Example: `  zpipe journal                      # the journal of .zpipe here
  zpipe journal pipeline.yaml        # the journal beside the manifest
  zpipe journal | grep '"status":"failed"'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := stateDir
			if dir == "" {
				dir = ".zpipe"
				if len(args) == 1 {
					dir = filepath.Join(filepath.Dir(args[0]), ".zpipe")
				}
			}
			err := engine.DumpJournal(dir, a.stdout)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s holds no journal: nothing has run with it as its state folder", dir)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "the state folder to read (default: .zpipe beside the manifest, or here)")
	return cmd
}
