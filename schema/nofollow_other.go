//go:build !unix

package schema

// noFollow is none where the system has no such flag.
const noFollow = 0
