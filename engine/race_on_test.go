//go:build race

package engine

// raceEnabled: under the race detector, long generated tests run fewer
// cases, to keep make test within its time.
const raceEnabled = true
