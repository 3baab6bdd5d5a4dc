// Package schema compiles a CUE schema (and an optional CUE transform) once
// and checks records against it, returning the record with the schema's
// defaults filled in, or every violation with its CUE path, constraint and
// schema position.
//
// A Schema is safe for concurrent use; each goroutine checks records through
// its own Validator, since a cue.Context is not meant to be shared by
// goroutines that build values.
package schema
