package engine

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zpipe/zpipe/internal/journal"
)

// DumpJournal writes the journal of the state folder dir to w as JSON
// lines, one entry each, in the order they were written: an item's entry
// as the journal of lines had it, its fingerprint naming its stage's
// "base" entry. It reads the folder without a lock and changes nothing.
func DumpJournal(dir string, w io.Writer) error {
	path := filepath.Join(dir, journalName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		path = filepath.Join(dir, journalOfLines)
		if _, err := os.Stat(path); err != nil {
			return err
		}
	}
	bw := bufio.NewWriter(w)
	file := newJournalFile()
	err := journal.Read(path, func(rec []byte) error {
		switch {
		case len(rec) > 0 && rec[0] == tagName:
			return file.readName(rec)
		case len(rec) > 0 && rec[0] == tagItem:
			var e entry
			if err := file.readItem(rec, &e); err != nil {
				return err
			}
			b, err := json.Marshal(&e)
			if err != nil {
				return err
			}
			rec = b
		}
		bw.Write(rec)
		return bw.WriteByte('\n')
	})
	if err != nil {
		bw.Flush() // the entries before the bad one, each whole
		var ce *journal.CorruptError
		if errors.As(err, &ce) {
			ce.Path = display(ce.Path)
		}
		return err
	}
	return bw.Flush()
}
