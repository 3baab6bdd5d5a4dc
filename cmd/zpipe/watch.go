package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// watch is filled in by the watch command's implementation.
func (a *app) watch(cmd *cobra.Command, args []string, f *runFlags) error {
	return usageError{errors.New("watch is not built yet")}
}
