package main

import (
	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/cueschemas"
)

func (a *app) schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema manifest",
		Short: "Print the JSON Schema of manifests, for editors",
		Long: `Schema manifest prints the JSON Schema (draft 2020-12) of zpipe manifests,
generated from the CUE schema the loader checks manifests with. Editors that
speak the YAML language server complete and check a manifest that names it
on its first line:

  # yaml-language-server: $schema=./zpipe.schema.json`,
		Example:   `  zpipe schema manifest > zpipe.schema.json`,
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs: []string{"manifest"},
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := cueschemas.ManifestJSONSchema()
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
}
