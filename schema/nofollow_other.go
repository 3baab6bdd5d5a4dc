//go:build !unix

package schema

import "os"

// noFollow is none where the system has no such flag.
const noFollow = 0

// private is true where the system shows no owner or permissions to
// compare (Windows gives every folder mode 0777): a user's cache folder
// there is the user's own.
func private(os.FileInfo) bool { return true }

// ownedByMe is true where the system has no owner to compare: a user's
// cache folder there is the user's own.
func ownedByMe(os.FileInfo) bool { return true }
