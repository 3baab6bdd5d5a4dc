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
	path := journalIn(dir)
	if _, err := os.Stat(path); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	err := readEntries(path, func(rec []byte, item *entry) error {
		if item != nil {
			b, err := json.Marshal(item)
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

// journalIn is the journal of the state folder dir: the journal of
// records, or the journal of lines that no run has upgraded yet.
func journalIn(dir string) string {
	path := filepath.Join(dir, journalName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return filepath.Join(dir, journalOfLines)
	}
	return path
}

// readJournal replays the journal at path, as journalIn names it: a
// journal of lines only by that name, so that a damaged journal of
// records is never read as lines.
func readJournal(path string, decode func(rec []byte) error) error {
	if filepath.Base(path) == journalOfLines {
		return journal.ReadLines(path, decode)
	}
	return journal.Read(path, decode)
}

// readEntries calls f with every entry of the journal at path, in order:
// a JSON record as it is, with item nil, a binary item decoded into item.
// Name records are taken in, not passed on.
func readEntries(path string, f func(rec []byte, item *entry) error) error {
	file := newJournalFile()
	return readJournal(path, func(rec []byte) error {
		switch {
		case len(rec) > 0 && rec[0] == tagName:
			return file.readName(rec)
		case len(rec) > 0 && rec[0] == tagItem:
			var e entry
			if err := file.readItem(rec, &e); err != nil {
				return err
			}
			return f(rec, &e)
		}
		return f(rec, nil)
	})
}
