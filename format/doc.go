// Package format decodes byte streams into records and encodes records back,
// for json, ndjson, yaml, toml, csv and tsv. Each format is one file that
// registers a [Codec], which the rest of zpipe asks instead of naming it.
//
// Records use a small value model that keeps what a round trip through
// map[string]any and float64 would lose: object keys stay in input order
// ([Object]) and numbers keep their exact literal ([Number]). A value is one
// of nil, bool, string, [Number], []any or *[Object].
package format
