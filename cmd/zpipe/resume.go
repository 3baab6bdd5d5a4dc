package main

import (
	"github.com/spf13/cobra"
)

func (a *app) resumeCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "resume MANIFEST...",
		Short: "Continue an interrupted run where it stopped",
		Long: `Resume continues a run that was interrupted or killed: items that run
finished are kept, the rest run, and failed items are retried. The outputs
are byte for byte what an uninterrupted run would have written.

zpipe run does the same whenever it finds finished work in the journal;
resume exists to say so in scripts.`,
		Example: `  zpipe resume pipeline.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.run(cmd, args, f)
		},
	}
	f.register(cmd)
	stageFlag(cmd, &f.stages)
	manifestArgs(cmd)
	return cmd
}
