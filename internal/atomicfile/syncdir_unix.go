//go:build unix

package atomicfile

import (
	"fmt"
	"os"
	"strings"
)

// SyncDir makes the folder's entries, such as a rename, durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
