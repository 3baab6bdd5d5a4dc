package engine

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A journal record is an entry as encoding/json writes it, or, for the
// entry of an item, which a million files make a million of, binary: a
// tag, then the item's fields, with sha256 sums as their 32 bytes. The
// strings many items share (stages, runs, statuses, bases, packs) are
// written once per journal file, in a name record, and items give their
// number. JSON records start with '{', so the first byte tells them apart.
const (
	tagItem = 1
	tagName = 2
)

// journalFile is what the records of one journal file refer to: the
// bases and names written in it so far.
type journalFile struct {
	bases map[string]bool
	ids   map[string]uint64
	names []string
}

func newJournalFile() *journalFile {
	return &journalFile{bases: map[string]bool{}, ids: map[string]uint64{}}
}

// records appends to out the records that write e: the base and names it
// refers to that the file does not hold yet, then e itself.
func (f *journalFile) records(e *entry, out [][]byte) ([][]byte, error) {
	if e.Type == "item" && e.FP != nil {
		id := e.FP.baseID()
		if !f.bases[id] {
			base := *e.FP
			base.Input = ""
			b, err := json.Marshal(&entry{Type: "base", Run: e.Run, Key: id, FP: &base, Time: e.Time})
			if err != nil {
				return out, err
			}
			out = append(out, b)
			f.bases[id] = true
		}
		d := *e
		d.FP = &fingerprint{Input: e.FP.Input, Base: id}
		e = &d
	}
	if binaryItem(e) {
		return f.appendItem(out, e), nil
	}
	b, err := json.Marshal(e)
	return append(out, b), err
}

// binaryItem reports whether e is an item entry that the binary record
// holds whole: it has none of the fields only stages and commits have,
// and a fingerprint, if any, that names its base.
func binaryItem(e *entry) bool {
	if e.Type != "item" || e.Stage == "" || e.Outputs != nil || e.Inputs != "" || e.Renames != nil || e.Then != nil {
		return false
	}
	fp := e.FP
	return fp == nil || fp.Base != "" && fp.Schema == "" && fp.Transform == "" && fp.Settings == "" && fp.Version == ""
}

// name returns the number of a shared string, appending its name record
// to out when the file does not hold it yet.
func (f *journalFile) name(v string, out *[][]byte) uint64 {
	if id, ok := f.ids[v]; ok {
		return id
	}
	id := uint64(len(f.names))
	f.names = append(f.names, v)
	f.ids[v] = id
	var w recordWriter
	w.b = append(w.b, tagName)
	w.uvarint(id)
	w.str(v)
	*out = append(*out, w.b)
	return id
}

func (f *journalFile) appendItem(out [][]byte, e *entry) [][]byte {
	var w recordWriter
	w.b = append(w.b, tagItem)
	w.uvarint(f.name(e.Stage, &out))
	w.str(e.Key)
	w.uvarint(f.name(e.Status, &out))
	w.uvarint(f.name(e.Run, &out))
	w.str(e.Error)
	if fp := e.FP; fp != nil {
		w.uvarint(1)
		w.sum(fp.Input)
		w.uvarint(f.name(fp.Base, &out))
	} else {
		w.uvarint(0)
	}
	if st := e.Stat; st != nil {
		w.uvarint(1)
		w.varint(st.Size)
		w.varint(st.Mtime)
		w.varint(st.Ctime - st.Mtime) // mostly 0
		w.uvarint(st.Ino)
		w.uvarint(st.Dev)
	} else {
		w.uvarint(0)
	}
	w.itemTail(e, func(v string) uint64 { return f.name(v, &out) })
	return append(out, w.b)
}

// readName takes a name record in. A number the file gave before may be
// given again (a write that failed is written again), never one past the
// next.
func (f *journalFile) readName(b []byte) error {
	r := diskReader{b: b, i: 1}
	id, v := r.uvarint(), r.str()
	if err := r.done(); err != nil {
		return err
	}
	switch {
	case id == uint64(len(f.names)):
		f.names = append(f.names, v)
	case id < uint64(len(f.names)):
		delete(f.ids, f.names[id])
		f.names[id] = v
	default:
		return fmt.Errorf("name %d before name %d", id, len(f.names))
	}
	f.ids[v] = id
	return nil
}

// readItem decodes an item record. A fingerprint comes with its base
// named, as in a JSON record.
func (f *journalFile) readItem(b []byte, e *entry) error {
	r := diskReader{b: b, i: 1, names: f.names}
	*e = entry{Type: "item", Stage: r.name(), Key: r.str(), Status: r.name(), Run: r.name(), Error: r.str()}
	if r.flag() {
		input := r.sum()
		e.FP = &fingerprint{Input: input, Base: r.name()}
	}
	if r.flag() {
		s := fileStat{Size: r.varint(), Mtime: r.varint()}
		s.Ctime = s.Mtime + r.varint()
		s.Ino, s.Dev = r.uvarint(), r.uvarint()
		e.Stat = &s
	}
	if n := r.uvarint(); n > 0 && n <= uint64(len(b)) {
		e.Parts = make([]partRef, n)
		for i := range e.Parts {
			e.Parts[i] = r.part()
		}
	} else if n > 0 {
		r.fail()
	}
	if r.flag() {
		p := r.part()
		e.Rejects = &p
	}
	e.Records, e.OK, e.Failed, e.Attempts = int(r.varint()), int(r.varint()), int(r.varint()), int(r.varint())
	e.Duration = r.varint()
	if r.flag() {
		sec, nsec, off := r.varint(), r.uvarint(), r.varint()
		// What JSON can write again: years 0 to 9999, zones within a day.
		if nsec >= 1e9 || off <= -86400 || off >= 86400 || sec < minJSONTime || sec > maxJSONTime {
			r.fail()
		}
		e.Time = time.Unix(sec, int64(nsec)).UTC()
		if off != 0 {
			e.Time = e.Time.In(time.FixedZone("", int(off)))
		}
	}
	return r.done()
}

// loadItem takes an item record into its stage's store as readItem and
// itemStore.put would, field by field, without the entry between them:
// sums stay bytes, and names go from the file's numbers to the store's.
// Reading the journal of a million items is most of what this saves.
func (st *state) loadItem(b []byte) error {
	r := diskReader{b: b, i: 1, names: st.file.names}
	stage := r.name()
	if r.err != nil {
		return r.err
	}
	s := st.items[stage]
	if s == nil {
		s = st.newStore(stage)
	}
	// A record refused halfway leaves no name or base of its own behind.
	names, bases := len(s.names), len(s.bases)
	w := recordWriter{b: st.scratch[:0]}
	copySum := func() {
		from := r.i
		if r.flag() {
			r.bytes(32)
		} else {
			r.bytes(r.uvarint())
		}
		w.b = append(w.b, b[from:r.i]...)
	}
	copyInt := func() { w.varint(r.varint()) }
	part := func() {
		copyInt() // output
		if r.flag() {
			w.uvarint(1)
			w.uvarint(s.name(r.name()))
		} else {
			w.uvarint(0)
			w.bytes(r.bytes(r.uvarint()))
		}
		copyInt() // offset
		copySum()
		copyInt() // size
		copyInt() // records
	}
	key := r.str()
	w.str(key)
	w.uvarint(s.name(r.name())) // status
	w.uvarint(s.name(r.name())) // run
	w.bytes(r.bytes(r.uvarint()))
	if r.flag() {
		w.uvarint(1)
		copySum()
		var fp fingerprint // a base the journal lost leaves it empty: the item runs again
		if name := r.name(); name != "" && st.bases[name] != nil {
			base := st.bases[name]
			fp = fingerprint{Schema: base.Schema, Transform: base.Transform, Settings: base.Settings, Version: base.Version}
		}
		w.uvarint(s.base(fp))
	} else {
		w.uvarint(0)
	}
	if r.flag() {
		w.uvarint(1)
		copyInt() // size
		mtime := r.varint()
		w.varint(mtime)
		w.varint(mtime + r.varint())
		w.uvarint(r.uvarint()) // ino
		w.uvarint(r.uvarint()) // dev
	} else {
		w.uvarint(0)
	}
	n := r.uvarint()
	if n > uint64(len(b)) { // a part takes a byte at least
		r.fail()
		n = 0
	}
	w.uvarint(n)
	for range n {
		part()
	}
	if r.flag() {
		w.uvarint(1)
		part()
	} else {
		w.uvarint(0)
	}
	for range 5 { // records, ok, failed, attempts, duration
		copyInt()
	}
	if r.flag() {
		sec, nsec, off := r.varint(), r.uvarint(), r.varint()
		if nsec >= 1e9 || off <= -86400 || off >= 86400 || sec < minJSONTime || sec > maxJSONTime {
			r.fail()
		}
		if sec == zeroTime && nsec == 0 {
			w.uvarint(0) // pack writes the zero time, in any zone, as none
		} else {
			w.uvarint(1)
			w.varint(sec)
			w.uvarint(nsec)
			w.varint(off)
		}
	} else {
		w.uvarint(0)
	}
	if err := r.done(); err != nil {
		for _, n := range s.names[names:] {
			delete(s.nameAt, n)
		}
		for _, b := range s.bases[bases:] {
			delete(s.baseAt, b)
		}
		s.names, s.bases = s.names[:names], s.bases[:bases]
		return err
	}
	st.items[stage] = s
	// The store copies the record into its blocks: both buffers are
	// used again for the next.
	rec := append(binary.AppendUvarint(st.scratch2[:0], uint64(len(w.b))), w.b...)
	st.scratch, st.scratch2 = w.b, rec
	s.putPacked(key, rec)
	return nil
}

// diskReader reads a record from the journal, which is outside data: a
// record cut short or out of range is an error, never a panic.
type diskReader struct {
	b     []byte
	i     int
	names []string
	err   error
}

var errBadRecord = errors.New("a binary record that cannot be read")

// The seconds of 0000-01-01 and 9999-12-31 23:59:59 UTC, widened by a day
// for the zone: the times encoding/json writes.
var (
	zeroTime    = time.Time{}.Unix()
	minJSONTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix() + 86400
	maxJSONTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix() - 86400
)

func (r *diskReader) fail() {
	if r.err == nil {
		r.err = errBadRecord
	}
}

func (r *diskReader) done() error {
	if r.err == nil && r.i != len(r.b) {
		r.fail()
	}
	return r.err
}

func (r *diskReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.i += n
	return v
}

func (r *diskReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.i:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.i += n
	return v
}

// flag reads a 0 or a 1.
func (r *diskReader) flag() bool {
	switch r.uvarint() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail()
	return false
}

func (r *diskReader) bytes(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)-r.i) {
		r.fail()
		return nil
	}
	b := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return b
}

func (r *diskReader) str() string { return string(r.bytes(r.uvarint())) }

// name reads the number of a shared string.
func (r *diskReader) name() string {
	id := r.uvarint()
	if id >= uint64(len(r.names)) {
		r.fail()
		return ""
	}
	return r.names[id]
}

func (r *diskReader) sum() string {
	if r.flag() {
		return hex.EncodeToString(r.bytes(32))
	}
	return r.str()
}

func (r *diskReader) part() partRef {
	p := partRef{Output: int(r.varint())}
	if r.flag() {
		p.File = r.name()
	} else {
		p.File = r.str()
	}
	p.Offset, p.SHA256, p.Size, p.Records = r.varint(), r.sum(), r.varint(), int(r.varint())
	return p
}
