package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/pipeline"
)

// stageFlag registers --stage, which narrows a run or plan to some
// stages and what they need, and completes its names from the
// manifests on the command line.
func stageFlag(cmd *cobra.Command, stages *[]string) {
	cmd.Flags().StringSliceVar(stages, "stage", nil, "only this stage and the stages it needs, as make builds a target (repeat, or comma-separate, for several)")
	cmd.RegisterFlagCompletionFunc("stage", func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		var names []string
		for _, file := range args {
			if m, err := pipeline.Load(file); err == nil {
				for _, s := range m.Stages {
					if !slices.Contains(names, s.Name) {
						names = append(names, s.Name)
					}
				}
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
}

// manifestArgs completes a command's arguments with YAML files, the
// manifests it takes.
func manifestArgs(cmd *cobra.Command) {
	cmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	}
}

// narrow keeps, of each plan, the named stages and the stages they need;
// a manifest with none of them drops out. Each name must be some
// manifest's stage.
func narrow(plans []*pipeline.Plan, names []string) ([]*pipeline.Plan, error) {
	if len(names) == 0 {
		return plans, nil
	}
	var out []*pipeline.Plan
	found := map[string]bool{}
	for _, p := range plans {
		var mine []string
		for _, s := range p.Manifest.Stages {
			if slices.Contains(names, s.Name) {
				mine = append(mine, s.Name)
				found[s.Name] = true
			}
		}
		if len(mine) == 0 {
			continue
		}
		np, err := p.Only(mine)
		if err != nil {
			return nil, err
		}
		out = append(out, np)
	}
	for _, n := range names {
		if !found[n] {
			var have []string
			for _, p := range plans {
				for _, s := range p.Manifest.Stages {
					have = append(have, s.Name)
				}
			}
			return nil, usageError{fmt.Errorf("--stage %s: no manifest has that stage (stages: %s)", n, strings.Join(have, ", "))}
		}
	}
	return out, nil
}
