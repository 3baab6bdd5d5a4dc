// Package engine runs a compiled pipeline.Plan: each stage's items go
// through a bounded worker pool, every record is checked against the
// stage's CUE schema, valid records are written to every output in input
// order, and invalid ones go to the rejects file with their reasons.
//
// Output files are assembled at the end of a stage from per-item parts and
// replaced atomically, so that no reader and no crash ever sees half of one.
package engine
