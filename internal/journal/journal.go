// Package journal is zpipe's checkpoint log: an append-only file of
// records, one per finished item, stage or run, that lets a killed run
// resume without redoing finished work.
//
// The file starts with Magic; each record is framed as its length (a
// uvarint), its bytes and a CRC-32C of them, so that a record may be
// binary and a damaged one is told from a good one. Journals that zpipe
// wrote before were JSON lines: Read reads them, and Convert turns one
// into this form.
//
// Durability: every record is written to the file as soon as it is
// appended, so a killed process loses nothing; records are fsynced in
// groups, at most SyncEvery apart and at Close, so a power loss costs at
// most that much finished work, which is redone, never lost. A torn end
// (a crash in the middle of a write, or zeros a power loss left) is
// ignored when the journal is opened; a bad record anywhere else means the
// journal cannot be trusted, and Open says so.
package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"time"

	"github.com/zpipe/zpipe/internal/atomicfile"
)

// SyncEvery bounds how long an appended record may wait for its fsync.
const SyncEvery = 200 * time.Millisecond

// Magic starts every journal of framed records.
const Magic = "zpipe journal 2\n"

// maxRecord bounds a record: a longer length is damage, not a record.
const maxRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendFrame appends rec to b as the journal frames it. The sum is
// stored inverted, so that a run of zeros is never a good frame.
func AppendFrame(b, rec []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(rec)))
	b = append(b, rec...)
	return binary.LittleEndian.AppendUint32(b, ^crc32.Checksum(rec, castagnoli))
}

// Journal appends records to a file.
type Journal struct {
	path string

	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	dirty  bool
	closed bool
	err    error
	stop   chan struct{}
	done   chan struct{}
}

// CorruptError reports a record that cannot be read and is not the torn
// end of the file.
type CorruptError struct {
	Path string
	// Line is the record's number, counted from 1: a line's, in a
	// journal of lines.
	Line  int
	Lines bool
	Err   error
}

func (e *CorruptError) Error() string {
	unit := "record"
	if e.Lines {
		unit = "line"
	}
	return fmt.Sprintf("journal %s is corrupt at %s %d (%v); it cannot be trusted, run with --force to start over", e.Path, unit, e.Line, e.Err)
}

// Open reads the journal at path into decode, one call per record, and
// opens it for appending; a missing or empty file is an empty journal.
// decode returns an error for a record it cannot read, and must not keep
// the record, whose bytes are reused.
func Open(path string, decode func(rec []byte) error) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	good, err := replay(path, f, decode, false)
	if err != nil {
		f.Close()
		return nil, err
	}
	if good == 0 {
		// New, or its first write never finished.
		if _, err := f.WriteAt([]byte(Magic), 0); err != nil {
			f.Close()
			return nil, err
		}
		good = int64(len(Magic))
	}
	// Drop a torn end, so that the next record follows the last good one.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	j := &Journal{path: path, f: f, w: bufio.NewWriterSize(f, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go j.syncLoop()
	return j, nil
}

// replay decodes every good record and returns the length of the good
// prefix of the file: 0 for a file with no magic yet. A file of lines is
// read when lines says so, and is corrupt otherwise: Convert it first.
func replay(path string, f *os.File, decode func([]byte) error, lines bool) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	r := bufio.NewReaderSize(f, 256<<10)
	head, _ := r.Peek(len(Magic))
	switch {
	case string(head) == Magic:
		r.Discard(len(Magic))
		return replayFrames(path, f, r, size, decode)
	case tornHeader(head) && zerosOnly(io.NewSectionReader(f, int64(len(head)), size)):
		// Empty, or its first write was torn: a power loss can leave
		// the file's length on disk and zeros in it.
		return 0, nil
	case !lines:
		return 0, &CorruptError{Path: path, Line: 1, Err: errors.New("the file does not start as a journal of records")}
	}
	return replayLines(path, r, decode)
}

// tornHeader reports whether head can begin a journal whose magic was not
// all written: a part of it, then zeros.
func tornHeader(head []byte) bool {
	i := 0
	for i < len(head) && head[i] == Magic[i] {
		i++
	}
	for ; i < len(head); i++ {
		if head[i] != 0 {
			return false
		}
	}
	return true
}

func replayFrames(path string, f io.ReaderAt, r *bufio.Reader, size int64, decode func([]byte) error) (int64, error) {
	good := int64(len(Magic))
	var buf []byte
	for n := 1; ; n++ {
		// The file as it was when reading began: a run may append to it
		// while plan or zpipe journal reads it.
		if _, err := r.Peek(1); err == io.EOF || good >= size {
			return good, nil
		}
		// A frame that is damaged is the torn end if nothing but zeros
		// follows it, or if it claims more bytes than there are and no
		// good frame follows: a length damaged in the middle of the file
		// must not pass for a torn end, or all after it would be lost.
		bad := func(err error) (int64, error) {
			if zerosOnly(r) {
				return good, nil
			}
			return 0, &CorruptError{Path: path, Line: n, Err: err}
		}
		l, err := binary.ReadUvarint(r)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return good, nil
		}
		if err != nil {
			return bad(err)
		}
		if l > maxRecord {
			return bad(fmt.Errorf("a record of %d bytes", l))
		}
		end := good + int64(uvarintLen(l)) + int64(l) + 4
		if end > size {
			if frameAfter(f, good+1, size) {
				return 0, &CorruptError{Path: path, Line: n, Err: fmt.Errorf("a record of %d bytes, more than the file holds", l)}
			}
			return good, nil
		}
		if cap(buf) < int(l)+4 {
			buf = make([]byte, int(l)+4)
		}
		buf = buf[:int(l)+4]
		if _, err := io.ReadFull(r, buf); err != nil {
			return good, nil // the file shrank while it was read
		}
		rec := buf[:l]
		if binary.LittleEndian.Uint32(buf[l:]) != ^crc32.Checksum(rec, castagnoli) {
			return bad(errors.New("its checksum does not match"))
		}
		if err := decode(rec); err != nil {
			return bad(err)
		}
		good = end
	}
}

// tornMax bounds the end of a file that frameAfter searches: a torn
// write is one group of records, far less.
const tornMax = 64 << 20

// frameAfter reports whether a whole frame with a good sum starts
// anywhere in f from at to size. Past tornMax it does not look, and says
// so: so long an end is no torn write.
func frameAfter(f io.ReaderAt, at, size int64) bool {
	if at >= size {
		return false
	}
	if size-at > tornMax {
		return true
	}
	b := make([]byte, size-at)
	if _, err := f.ReadAt(b, at); err != nil && err != io.EOF {
		return true
	}
	for i := range b {
		l, n := binary.Uvarint(b[i:])
		if n <= 0 || l > uint64(len(b)-i-n) || uint64(len(b)-i-n)-l < 4 {
			continue
		}
		rec := b[i+n : i+n+int(l)]
		if binary.LittleEndian.Uint32(b[i+n+int(l):]) == ^crc32.Checksum(rec, castagnoli) {
			return true
		}
	}
	return false
}

// zerosOnly reports whether the rest of r is zero bytes.
func zerosOnly(r io.Reader) bool {
	var b [4096]byte
	for {
		n, err := r.Read(b[:])
		for _, c := range b[:n] {
			if c != 0 {
				return false
			}
		}
		if err != nil {
			return err == io.EOF
		}
	}
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

// replayLines reads a journal of JSON lines, as zpipe wrote before.
func replayLines(path string, r *bufio.Reader, decode func([]byte) error) (int64, error) {
	var good int64
	err := eachLine(r, func(n int, line []byte) error {
		if derr := decode(bytes.TrimSuffix(line, []byte{'\n'})); derr != nil {
			// The last line may be garbage from a crash mid-write (a
			// power loss can leave zeros); a bad line with more after it
			// cannot be explained that way.
			if _, err := r.Peek(1); err == io.EOF {
				return io.EOF
			}
			return &CorruptError{Path: path, Line: n, Lines: true, Err: derr}
		}
		good += int64(len(line))
		return nil
	})
	if err == io.EOF {
		err = nil
	}
	return good, err
}

// eachLine calls f with every complete line of r, newline included; an
// unfinished last line is left out. The line is valid until f returns or
// reads r.
func eachLine(r *bufio.Reader, f func(n int, line []byte) error) error {
	var long []byte
	for n := 1; ; n++ {
		// A line is read in place unless it outgrows the buffer: a
		// copy of each of a million lines was half of what reading
		// the journal allocated. f does not keep it.
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF {
			// No newline: the write of this line never finished.
			return nil
		}
		if err != nil {
			return err
		}
		if err := f(n, line); err != nil {
			return err
		}
	}
}

// Convert writes the journal of lines at from as a journal of records at
// to, each line a record, line n record n. to replaces what was there by
// rename; from is left for the caller to remove once to reads well. A
// torn last line is left out.
func Convert(from, to string) error {
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	return atomicfile.Write(to, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 256<<10)
		bw.WriteString(Magic)
		var frame []byte
		err := eachLine(bufio.NewReaderSize(f, 256<<10), func(_ int, line []byte) error {
			frame = AppendFrame(frame[:0], bytes.TrimSuffix(line, []byte{'\n'}))
			_, err := bw.Write(frame)
			return err
		})
		if err != nil {
			return err
		}
		return bw.Flush()
	})
}

// Append writes one record. It is on disk (not yet synced) when Append
// returns.
func (j *Journal) Append(rec []byte) error { return j.AppendAll(rec) }

// AppendAll writes records in order, with one write: a group of a
// thousand small items would otherwise cost a thousand. They are on disk
// (not yet synced) when AppendAll returns.
func (j *Journal) AppendAll(recs ...[]byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errors.New("journal is closed")
	}
	if j.err != nil {
		return j.err
	}
	var frame []byte
	for _, rec := range recs {
		frame = AppendFrame(frame[:0], rec)
		j.w.Write(frame)
	}
	if err := j.w.Flush(); err != nil {
		j.err = err
		return err
	}
	j.dirty = true
	return nil
}

// Sync makes every appended record durable now.
func (j *Journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncLocked()
}

func (j *Journal) syncLocked() error {
	if !j.dirty || j.err != nil {
		return j.err
	}
	if err := j.f.Sync(); err != nil {
		j.err = err
		return err
	}
	j.dirty = false
	return nil
}

func (j *Journal) syncLoop() {
	defer close(j.done)
	t := time.NewTicker(SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
			j.Sync()
		}
	}
}

// Close syncs and closes the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.syncLocked()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Read replays the journal at path without changing it: no lock, no
// truncation of a torn end. A missing file is an empty journal; a file
// that is not a journal of records is a CorruptError, as Open says.
func Read(path string, decode func(rec []byte) error) error {
	return read(path, decode, false)
}

// ReadLines is Read for a journal of lines, which zpipe wrote before.
func ReadLines(path string, decode func(rec []byte) error) error {
	return read(path, decode, true)
}

func read(path string, decode func(rec []byte) error, lines bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = replay(path, f, decode, lines)
	return err
}

// Snapshot is a journal read without its lock: it can be opened for
// appending, once the lock is taken, only if nothing changed it since.
type Snapshot struct {
	path string
	file os.FileInfo
}

// ReadSnapshot replays the journal at path, as Read does, for a caller
// that will take the lock later. ok is false, and nothing need be kept,
// when the journal cannot be opened as it was read: it is missing,
// empty or torn (Open would repair it), or changed while it was read.
func ReadSnapshot(path string, decode func(rec []byte) error) (s Snapshot, ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return s, false, err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return s, false, err
	}
	good, err := replay(path, f, decode, false)
	if err != nil {
		return s, false, err
	}
	after, err := f.Stat()
	if err != nil {
		return s, false, err
	}
	same := good == before.Size() && good > int64(len(Magic)) && sameFile(before, after)
	return Snapshot{path: path, file: after}, same, nil
}

// Open opens the journal read for appending, once the caller holds its
// lock. ok is false when the file is no longer the one read: it must
// then be opened afresh with Open.
func (s Snapshot) Open() (j *Journal, ok bool, err error) {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, err
	}
	now, err := f.Stat()
	if err == nil && !sameFile(s.file, now) {
		f.Close()
		return nil, false, nil
	}
	if err == nil {
		_, err = f.Seek(now.Size(), io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	j = &Journal{path: s.path, f: f, w: bufio.NewWriterSize(f, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go j.syncLoop()
	return j, true, nil
}

// sameFile tells whether a and b are the same file with the same bytes,
// as far as its stat can say: records are only ever appended, and a
// journal is rewritten by rename.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
