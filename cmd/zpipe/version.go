package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print zpipe's version, and the commit it was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			settings := map[string]string{}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					settings[s.Key] = s.Value
				}
			}
			fmt.Fprintf(a.stdout, "zpipe %s%s %s %s/%s\n", engine.Version(), revision(settings), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// revision describes the commit zpipe was built from, when go build
// recorded it: " (77ecf60a1b2c, modified)".
func revision(settings map[string]string) string {
	rev := settings["vcs.revision"]
	if rev == "" {
		return ""
	}
	rev = rev[:min(12, len(rev))]
	if settings["vcs.modified"] == "true" {
		rev += ", modified"
	}
	return " (" + rev + ")"
}
