package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print zpipe's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.stdout, "zpipe %s %s %s/%s\n", engine.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
