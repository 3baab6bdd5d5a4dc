package engine

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/maphash"
	"iter"
	"slices"
	"time"
)

// itemStore holds the latest journal entry of every item of one stage,
// packed into blocks of bytes. As structs, a million items were 650 bytes
// each and some six million objects for the collector to walk on every
// cycle; packed, they are about 200 bytes each and no objects at all. An
// entry is unpacked when asked for, as a copy: changing it changes the
// store only through put.
type itemStore struct {
	stage  string
	seed   maphash.Seed
	blocks [][]byte
	// at finds a key's latest record by the key's hash; clash holds the
	// keys whose hash an earlier key already has.
	at    posIndex
	clash map[string]uint64
	// names are the strings that many records share (runs, statuses,
	// packs), and bases the fingerprints a stage's items share.
	names  []string
	nameAt map[string]uint64
	bases  []fingerprint
	baseAt map[fingerprint]uint64
	// size and waste are the bytes of all records and of replaced ones.
	size, waste int
	// spill, when set, takes the blocks before the last storeResident
	// bytes' worth: blocks[i] is then nil, and spilled[i] says where it
	// is. resident is the first block still in memory; unspilled is set
	// once a write to the file failed, and the rest stay in memory.
	spill     *spillFile
	spilled   []spilledBlock
	resident  int
	unspilled bool
}

// spilledBlock is where a block is in the spill file, and its length.
type spilledBlock struct {
	at  int64
	len int
}

func newItemStore(stage string) *itemStore {
	return &itemStore{stage: stage, seed: maphash.MakeSeed(), nameAt: map[string]uint64{}, baseAt: map[fingerprint]uint64{}}
}

// storeBlock is the size of a block of records; a larger record has a
// block of its own.
var storeBlock = 256 << 10 // a variable for the tests

// len is the number of items.
func (s *itemStore) len() int { return s.at.len() + len(s.clash) }

// get returns a copy of the latest entry of key, or nil.
func (s *itemStore) get(key string) *entry {
	pos, ok := s.find(key)
	if !ok {
		return nil
	}
	return s.entryAt(pos)
}

func (s *itemStore) find(key string) (uint64, bool) {
	pos, ok := s.at.get(maphash.String(s.seed, key))
	if !ok {
		return 0, false
	}
	if s.keyIs(pos, key) {
		return pos, true
	}
	pos, ok = s.clash[key]
	return pos, ok
}

// status returns the status of key's latest entry, and whether it has
// one, without unpacking the rest.
func (s *itemStore) status(key string) (string, bool) {
	pos, ok := s.find(key)
	if !ok {
		return "", false
	}
	var buf recordBuf
	r := s.reader(pos, &buf)
	r.skip()
	return s.names[r.uvarint()], true
}

// statuses yields every item's key and status.
func (s *itemStore) statuses() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for pos := range s.positions() {
			var buf recordBuf
			r := s.reader(pos, &buf)
			key := r.str()
			if !yield(key, s.names[r.uvarint()]) {
				return
			}
		}
	}
}

// live counts the items whose latest entry is not "removed".
func (s *itemStore) live() int {
	n := 0
	for pos := range s.positions() {
		var buf recordBuf
		r := s.reader(pos, &buf)
		r.skip()
		if s.names[r.uvarint()] != "removed" {
			n++
		}
	}
	return n
}

// savedParts yields where the parts of every item not removed are, with
// their sums left out: what collecting and repacking parts look at.
func (s *itemStore) savedParts() iter.Seq[partRef] {
	return func(yield func(partRef) bool) {
		for pos := range s.positions() {
			var buf recordBuf
			r := s.reader(pos, &buf)
			r.skip()
			if s.names[r.uvarint()] == "removed" {
				continue
			}
			r.skipToParts()
			n := r.uvarint()
			for ; n > 0; n-- {
				if !yield(s.unpackPartLean(&r)) {
					return
				}
			}
			if r.uvarint() == 1 && !yield(s.unpackPartLean(&r)) {
				return
			}
		}
	}
}

// hashSaved adds to h what the latest entry of key says its parts hold,
// as inputsDigest hashes it, without unpacking the entry.
func (s *itemStore) hashSaved(h stringHash, key string) {
	pos, ok := s.find(key)
	if !ok {
		h.add("-")
		return
	}
	var rec recordBuf
	r := s.reader(pos, &rec)
	r.skip()
	h.add(key)
	h.add(s.names[r.uvarint()])
	r.skipToParts()
	var buf [64]byte
	part := func() {
		r.varint()
		if r.uvarint() == 1 {
			r.uvarint()
		} else {
			r.skip()
		}
		r.varint()
		h.addBytes(r.sumInto(buf[:0]))
		r.varint()
		r.varint()
	}
	for n := r.uvarint(); n > 0; n-- {
		part()
	}
	if r.uvarint() == 1 {
		part()
	}
}

// put packs e as the latest entry of its key.
func (s *itemStore) put(e *entry) { s.putPacked(e.Key, s.pack(e)) }

// putPacked stores rec, a record as pack writes it, as the latest entry
// of key.
func (s *itemStore) putPacked(key string, rec []byte) {
	pos := s.add(rec)
	h := maphash.String(s.seed, key)
	old, ok := s.at.set(h, pos)
	switch {
	case !ok:
		return
	case s.keyIs(old, key):
	default:
		s.at.set(h, old) // the hash stays the earlier key's
		if s.clash == nil {
			s.clash = map[string]uint64{}
		}
		if old, ok = s.clash[key]; !ok {
			s.clash[key] = pos
			return
		}
		s.clash[key] = pos
	}
	s.waste += s.recordLen(old)
	if s.waste > 64<<20 && s.waste > s.size/2 {
		s.repack()
	}
}

// all yields a copy of every item's latest entry.
func (s *itemStore) all() iter.Seq[*entry] {
	return func(yield func(*entry) bool) {
		for pos := range s.positions() {
			if !yield(s.entryAt(pos)) {
				return
			}
		}
	}
}

// keys yields every item's key.
func (s *itemStore) keys() iter.Seq[string] {
	return func(yield func(string) bool) {
		for pos := range s.positions() {
			if !yield(s.keyAt(pos)) {
				return
			}
		}
	}
}

// positions yields where every item's latest record is: in the order
// they were added once blocks are spilled, so that they are read back
// from the file in its order.
func (s *itemStore) positions() iter.Seq[uint64] {
	return func(yield func(uint64) bool) {
		if s.resident > 0 {
			for _, pos := range s.sortedPositions() {
				if !yield(pos) {
					return
				}
			}
			return
		}
		for pos := range s.at.positions() {
			if !yield(pos) {
				return
			}
		}
		for _, pos := range s.clash {
			if !yield(pos) {
				return
			}
		}
	}
}

func (s *itemStore) sortedPositions() []uint64 {
	all := make([]uint64, 0, s.len())
	for pos := range s.at.positions() {
		all = append(all, pos)
	}
	for _, pos := range s.clash {
		all = append(all, pos)
	}
	slices.Sort(all)
	return all
}

// add appends a record to the last block, or to a new one, and returns
// its position: the block's index and the offset in it.
func (s *itemStore) add(rec []byte) uint64 {
	n := len(s.blocks)
	if n == 0 || len(s.blocks[n-1])+len(rec) > cap(s.blocks[n-1]) {
		s.spillOld()
		s.blocks = append(s.blocks, make([]byte, 0, max(storeBlock, len(rec))))
		n++
	}
	b := s.blocks[n-1]
	pos := uint64(n-1)<<32 | uint64(len(b))
	s.blocks[n-1] = append(b, rec...)
	s.size += len(rec)
	return pos
}

// spillOld moves the full blocks past storeResident bytes, oldest first,
// to the spill file. A store that cannot write there keeps its blocks.
func (s *itemStore) spillOld() {
	for s.spill != nil && !s.unspilled && (len(s.blocks)-s.resident)*storeBlock > storeResident {
		b := s.blocks[s.resident]
		at, err := s.spill.write(b)
		if err != nil {
			s.unspilled = true
			return
		}
		s.spilled = append(s.spilled, spilledBlock{at, len(b)}) // spilled[i] is block i's
		s.blocks[s.resident] = nil
		s.resident++
	}
}

// repack copies the latest records into new blocks, once replaced ones
// take most of the room; spilled ones are read back in file order.
func (s *itemStore) repack() {
	old := *s
	s.blocks, s.spilled, s.resident, s.size, s.waste = nil, nil, 0, 0, 0
	for _, pos := range old.sortedPositions() {
		var buf recordBuf
		b := old.record(pos, &buf)
		moved := s.add(b[:recordSize(b)])
		// The key leads the record: it finds the entry that points here.
		r := recordReader{b: b}
		r.uvarint() // length
		key := r.str()
		if _, ok := s.clash[key]; ok {
			s.clash[key] = moved
		} else {
			s.at.set(maphash.String(s.seed, key), moved)
		}
	}
}

// recordBuf holds a spilled record while it is read: most records fit.
type recordBuf [512]byte

// record returns the bytes from the record at pos: the record, and
// perhaps more after it. A spilled record is copied into buf.
func (s *itemStore) record(pos uint64, buf *recordBuf) []byte {
	i, off := pos>>32, int(uint32(pos))
	if int(i) >= s.resident {
		return s.blocks[i][off:]
	}
	sb := s.spilled[i]
	return s.spill.record(sb.at+int64(off), sb.len-off, buf[:0])
}

// recordSize is the length of the record b starts with (a record leads with it), with its own.
func recordSize(b []byte) int {
	n, w := binary.Uvarint(b)
	return w + int(n)
}

func (s *itemStore) recordLen(pos uint64) int {
	var buf recordBuf
	return recordSize(s.record(pos, &buf))
}

func (s *itemStore) keyAt(pos uint64) string {
	var buf recordBuf
	r := s.reader(pos, &buf)
	return r.str()
}

func (s *itemStore) keyIs(pos uint64, key string) bool {
	var buf recordBuf
	r := s.reader(pos, &buf)
	n := int(r.uvarint())
	return string(r.b[r.i:r.i+n]) == key // compared in place: no copy
}

// reader reads the record at pos from its first field; buf holds it
// when it is spilled.
func (s *itemStore) reader(pos uint64, buf *recordBuf) recordReader {
	r := recordReader{b: s.record(pos, buf)}
	r.uvarint() // length
	return r
}

// name returns the index of a shared string, adding it when new.
func (s *itemStore) name(v string) uint64 {
	if i, ok := s.nameAt[v]; ok {
		return i
	}
	i := uint64(len(s.names))
	s.names = append(s.names, v)
	s.nameAt[v] = i
	return i
}

func (s *itemStore) base(fp fingerprint) uint64 {
	fp.Input = ""
	if i, ok := s.baseAt[fp]; ok {
		return i
	}
	i := uint64(len(s.bases))
	s.bases = append(s.bases, fp)
	s.baseAt[fp] = i
	return i
}

// pack writes an item entry as a record: its length, then its fields.
// The fields an item entry never has (outputs, inputs, renames, then)
// are not kept.
func (s *itemStore) pack(e *entry) []byte {
	var w recordWriter
	w.str(e.Key)
	w.uvarint(s.name(e.Status))
	w.uvarint(s.name(e.Run))
	w.str(e.Error)
	if fp := e.FP; fp != nil {
		w.uvarint(1)
		w.sum(fp.Input)
		w.uvarint(s.base(*fp))
	} else {
		w.uvarint(0)
	}
	if st := e.Stat; st != nil {
		w.uvarint(1)
		w.varint(st.Size)
		w.varint(st.Mtime)
		w.varint(st.Ctime)
		w.uvarint(st.Ino)
		w.uvarint(st.Dev)
	} else {
		w.uvarint(0)
	}
	w.itemTail(e, s.name)
	rec := binary.AppendUvarint(make([]byte, 0, len(w.b)+3), uint64(len(w.b)))
	return append(rec, w.b...)
}

// itemTail writes what an item's record ends with, in the store and in
// the journal alike: its parts and rejects, its counts, its duration and
// its time. name numbers a pack's name.
func (w *recordWriter) itemTail(e *entry, name func(string) uint64) {
	w.uvarint(uint64(len(e.Parts)))
	for _, p := range e.Parts {
		w.part(p, name)
	}
	if e.Rejects != nil {
		w.uvarint(1)
		w.part(*e.Rejects, name)
	} else {
		w.uvarint(0)
	}
	for _, n := range []int{e.Records, e.OK, e.Failed, e.Attempts} {
		w.varint(int64(n))
	}
	w.varint(e.Duration)
	if e.Time.IsZero() {
		w.uvarint(0)
	} else {
		w.uvarint(1)
		w.varint(e.Time.Unix())
		w.uvarint(uint64(e.Time.Nanosecond()))
		_, off := e.Time.Zone()
		w.varint(int64(off))
	}
}

func (w *recordWriter) part(p partRef, name func(string) uint64) {
	w.varint(int64(p.Output))
	if p.packed() {
		w.uvarint(1)
		w.uvarint(name(p.File))
	} else {
		w.uvarint(0)
		w.str(p.File)
	}
	w.varint(p.Offset)
	w.sum(p.SHA256)
	w.varint(p.Size)
	w.varint(int64(p.Records))
}

// entryAt unpacks the record at pos.
func (s *itemStore) entryAt(pos uint64) *entry {
	var buf recordBuf
	r := s.reader(pos, &buf)
	e := &entry{Type: "item", Stage: s.stage, Key: r.str()}
	e.Status = s.names[r.uvarint()]
	e.Run = s.names[r.uvarint()]
	e.Error = r.str()
	if r.uvarint() == 1 {
		input := r.sum()
		fp := s.bases[r.uvarint()]
		fp.Input = input
		e.FP = &fp
	}
	if r.uvarint() == 1 {
		e.Stat = &fileStat{Size: r.varint(), Mtime: r.varint(), Ctime: r.varint(), Ino: r.uvarint(), Dev: r.uvarint()}
	}
	if n := r.uvarint(); n > 0 {
		e.Parts = make([]partRef, n)
		for i := range e.Parts {
			e.Parts[i] = s.unpackPart(&r)
		}
	}
	if r.uvarint() == 1 {
		p := s.unpackPart(&r)
		e.Rejects = &p
	}
	e.Records, e.OK, e.Failed, e.Attempts = int(r.varint()), int(r.varint()), int(r.varint()), int(r.varint())
	e.Duration = r.varint()
	e.Time = r.time()
	return e
}

func (s *itemStore) unpackPart(r *recordReader) partRef {
	return s.readPart(r, true)
}

func (s *itemStore) unpackPartLean(r *recordReader) partRef {
	return s.readPart(r, false)
}

// readPart reads a part, with its sum or without.
func (s *itemStore) readPart(r *recordReader, sum bool) partRef {
	p := partRef{Output: int(r.varint())}
	if r.uvarint() == 1 {
		p.File = s.names[r.uvarint()]
	} else {
		p.File = r.str()
	}
	p.Offset = r.varint()
	if sum {
		p.SHA256 = r.sum()
	} else {
		r.skipSum()
	}
	p.Size = r.varint()
	p.Records = int(r.varint())
	return p
}

// recordWriter appends a record's fields.
type recordWriter struct{ b []byte }

func (w *recordWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *recordWriter) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }

func (w *recordWriter) str(v string) {
	w.uvarint(uint64(len(v)))
	w.b = append(w.b, v...)
}

func (w *recordWriter) bytes(v []byte) {
	w.uvarint(uint64(len(v)))
	w.b = append(w.b, v...)
}

// sum writes a sha256 in lowercase hex as its 32 bytes, and any other
// string (a journal may have been edited) as it is.
func (w *recordWriter) sum(v string) {
	if len(v) == 64 && isLowerHex(v) {
		w.uvarint(1)
		w.b, _ = hex.AppendDecode(w.b, []byte(v)) // lower hex: cannot fail
		return
	}
	w.uvarint(0)
	w.str(v)
}

func isLowerHex(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// recordReader reads the fields recordWriter wrote. Records are the
// store's own, never read from outside, so a short one is a bug.
type recordReader struct {
	b []byte
	i int
}

var errShortRecord = errors.New("engine: item record cut short")

func (r *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 {
		panic(errShortRecord)
	}
	r.i += n
	return v
}

func (r *recordReader) varint() int64 {
	v, n := binary.Varint(r.b[r.i:])
	if n <= 0 {
		panic(errShortRecord)
	}
	r.i += n
	return v
}

func (r *recordReader) str() string {
	n := int(r.uvarint())
	v := string(r.b[r.i : r.i+n])
	r.i += n
	return v
}

func (r *recordReader) skip() { r.i += int(r.uvarint()) }

// time reads a time as pack writes it: the zero time when it has none.
func (r *recordReader) time() time.Time {
	if r.uvarint() != 1 {
		return time.Time{}
	}
	sec, nsec, off := r.varint(), r.uvarint(), r.varint()
	t := time.Unix(sec, int64(nsec)).UTC()
	if off != 0 {
		t = t.In(time.FixedZone("", int(off)))
	}
	return t
}

// skipToParts moves past what pack writes between an entry's status and
// its parts: its run, error, fingerprint and stat.
func (r *recordReader) skipToParts() {
	r.uvarint() // run
	r.skip()    // error
	if r.uvarint() == 1 {
		r.skipSum() // input
		r.uvarint() // base
	}
	if r.uvarint() == 1 {
		for range 5 { // size, mtime, ctime, ino, dev: a varint's bytes are a uvarint's
			r.uvarint()
		}
	}
}

func (r *recordReader) skipSum() {
	if r.uvarint() == 1 {
		r.i += 32
		return
	}
	r.skip()
}

// sumInto appends what sum would return to b.
func (r *recordReader) sumInto(b []byte) []byte {
	if r.uvarint() == 1 {
		b = hex.AppendEncode(b, r.b[r.i:r.i+32])
		r.i += 32
		return b
	}
	n := int(r.uvarint())
	b = append(b, r.b[r.i:r.i+n]...)
	r.i += n
	return b
}

func (r *recordReader) sum() string {
	if r.uvarint() == 1 {
		v := hex.EncodeToString(r.b[r.i : r.i+32])
		r.i += 32
		return v
	}
	return r.str()
}
