// Package cueschemas holds the CUE schemas zpipe itself is defined by,
// starting with manifest.cue, the schema of pipeline manifests.
package cueschemas

import _ "embed"

// Manifest is the source of manifest.cue; its #Manifest definition is the
// schema every manifest must satisfy.
//
//go:embed manifest.cue
var Manifest []byte
