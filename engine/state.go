package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zpipe/zpipe/internal/atomicfile"
	"github.com/zpipe/zpipe/internal/journal"
)

// entry is one line of the journal: a finished item, an assembled stage,
// or the start or end of a run.
type entry struct {
	Type   string `json:"type"` // item, stage, commit, run
	Run    string `json:"run"`
	Stage  string `json:"stage,omitempty"`
	Key    string `json:"key,omitempty"`
	Status string `json:"status,omitempty"` // item: done, failed, removed; commit: begin, done; run: started, finished

	FP      *fingerprint      `json:"fp,omitempty"`
	Stat    *fileStat         `json:"stat,omitempty"`
	Parts   []partRef         `json:"parts,omitempty"`
	Rejects *partRef          `json:"rejects,omitempty"`
	Outputs map[string]string `json:"outputs,omitempty"` // stage: output path → sha256
	// Inputs, for a stage, hashes the item entries its outputs were built
	// from, so that outputs a crash left older than the items are rebuilt.
	Inputs string `json:"inputs,omitempty"`
	// Renames, for a commit, are the temp files and the outputs they
	// replace, relative to the state folder; Then is the stage entry that
	// the commit records once every rename is done.
	Renames []rename `json:"renames,omitempty"`
	Then    *entry   `json:"then,omitempty"`
	// Removes, for a commit, are the files the stage wrote before and
	// does not write now, which go once the renames are done; SHA256 is
	// what zpipe wrote, so that a file changed since stays.
	Removes []rename `json:"removes,omitempty"`

	Records  int       `json:"records,omitempty"`
	OK       int       `json:"ok,omitempty"`
	Failed   int       `json:"failed,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	Error    string    `json:"error,omitempty"`
	Duration int64     `json:"duration_ns,omitempty"`
	Time     time.Time `json:"time"`
}

// fingerprint says what an item's output depends on. Its parts are kept
// apart so that a rerun can say which one changed.
//
// In the journal, what every item of a stage shares (all but the input)
// is written once, in a "base" entry, and an item names it by Base: a
// million items would otherwise repeat the same three hashes.
type fingerprint struct {
	Input     string `json:"input"`
	Base      string `json:"base,omitempty"`
	Schema    string `json:"schema,omitempty"`
	Transform string `json:"transform,omitempty"`
	Settings  string `json:"settings,omitempty"`
	Version   string `json:"version,omitempty"`
}

// baseID names what a fingerprint shares with the stage's other items.
func (fp *fingerprint) baseID() string {
	return hashString(fp.Schema, fp.Transform, fp.Settings, fp.Version)[:16]
}

// fileStat lets an unchanged file skip rehashing, as git's index does.
// The journal writes it as [size, mtime_ns, ctime_ns, ino, dev].
type fileStat struct {
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Ctime int64  `json:"ctime_ns"`
	Ino   uint64 `json:"ino"`
	Dev   uint64 `json:"dev"`
}

func (s fileStat) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 80)
	b = append(b, '[')
	b = strconv.AppendInt(b, s.Size, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, s.Mtime, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, s.Ctime, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, s.Ino, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, s.Dev, 10)
	return append(b, ']'), nil
}

// UnmarshalJSON reads the array, or the object journals wrote before.
func (s *fileStat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		type plain fileStat
		return json.Unmarshal(b, (*plain)(s))
	}
	var a [5]json.Number
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	var err error
	keep := func(perr error) {
		if perr != nil && err == nil {
			err = perr
		}
	}
	signed := func(n json.Number) int64 {
		v, perr := strconv.ParseInt(string(n), 10, 64)
		keep(perr)
		return v
	}
	unsigned := func(n json.Number) uint64 {
		v, perr := strconv.ParseUint(string(n), 10, 64)
		keep(perr)
		return v
	}
	// Times before 1970 are negative.
	s.Size, s.Mtime, s.Ctime = signed(a[0]), signed(a[1]), signed(a[2])
	s.Ino, s.Dev = unsigned(a[3]), unsigned(a[4])
	return err
}

// partRef is a saved part of an output: the file in the parts folder and
// the sha256 of its bytes. A small part is a section of a pack, a file
// that holds the parts of a group of items; a large one has a file of its
// own.
type partRef struct {
	Output  int    `json:"output"`
	File    string `json:"file"`
	Offset  int64  `json:"offset,omitempty"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size,omitempty"`
	Records int    `json:"records"`
}

// packed reports whether the part is a section of a pack.
func (p partRef) packed() bool { return strings.HasSuffix(p.File, packSuffix) }

const packSuffix = ".pack"

// isPartName reports whether name has the form of every name record
// gives a part, [0-9a-f]{32}(-([0-9]+|rejects)\.part|\.pack), so that a
// journal edited to name ../../secret can never make zpipe read it. By
// hand: as a regexp it was 7% of a no-op rerun of 100,000 files.
func isPartName(name string) bool {
	if len(name) < 32 || !isLowerHex(name[:32]) {
		return false
	}
	rest := name[32:]
	if rest == packSuffix {
		return true
	}
	n, part := strings.CutSuffix(rest, ".part")
	n, dash := strings.CutPrefix(n, "-")
	if !part || !dash || n == "" {
		return false
	}
	if n == "rejects" {
		return true
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// open reads a saved part, on the first read; it holds no descriptor
// until then, so that joining a million parts holds one at a time. Parts
// read one after another through the same packs keep the last one open.
func (st *state) open(ctx context.Context, p partRef, packs *packFile) *lazyFile {
	l := &lazyFile{ctx: ctx, path: filepath.Join(st.parts, p.File)}
	if p.packed() {
		l.section, l.off, l.size, l.pack = true, p.Offset, p.Size, packs
	}
	return l
}

// packFile is the pack that parts read in turn share: consecutive items
// were mostly committed in the same group, and opening a file per part
// cost more than reading it. A small pack is read whole, once, rather
// than with a read per part.
type packFile struct {
	path string
	at   io.ReaderAt // the pack's bytes, or its file
	f    *os.File    // the file, when it is held open
}

// packHold is the size up to which a pack is read whole.
const packHold = 4 << 20

func (p *packFile) open(path string) (io.ReaderAt, error) {
	if p.at != nil && p.path == path {
		return p.at, nil
	}
	p.Close()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	p.path = path
	if fi, err := f.Stat(); err == nil && fi.Size() <= packHold {
		b := make([]byte, fi.Size())
		if _, err := io.ReadFull(f, b); err == nil {
			f.Close()
			p.at = bytes.NewReader(b)
			return p.at, nil
		}
		// Cut short since the stat: the file's own reads say how.
	}
	p.at, p.f = f, f
	return f, nil
}

func (p *packFile) Close() error {
	p.at = nil
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}

// state is a run's hold on its state folder: the lock, the journal, and
// the latest entry of every item and stage.
type state struct {
	dir   string
	parts string
	runID string
	lock  *journal.Lock
	j     *journal.Journal

	// mu is held to read, and held alone to change, what follows: the
	// items' verdicts are read on every core.
	mu sync.RWMutex
	// items holds the latest entry of each item, by stage.
	items   map[string]*itemStore
	stages  map[string]*entry // stage → latest stage entry
	pending map[string]*entry // stage → a commit begun and not done
	lastRun *entry            // the previous run's last run entry
	lines   int               // entries in the journal, read and appended
	bases   map[string]*fingerprint
	// packSizes are the sizes of the packs reason has looked at.
	packSizes map[string]int64

	// file is what the journal file holds that records refer to; baseMu
	// keeps an item's record behind its base's and names.
	baseMu sync.Mutex
	file   *journalFile
	// scratch and scratch2 are loadItem's buffers, used again for every
	// item record read.
	scratch, scratch2 []byte
	// jsonItems counts the item entries read as JSON, from a journal
	// zpipe wrote before items were binary: compact rewrites them.
	jsonItems int
	// spill takes the item records the stores do not keep in memory; nil
	// for a dry run.
	spill *spillFile
}

// The journal's file, and the file of JSON lines zpipe wrote before.
const (
	journalName    = "journal.bin"
	journalOfLines = "journal.ndjson"
)

// openState locks the state folder and reads its journal. force is the
// way out of a corrupt journal: it then starts afresh. A sound journal is
// kept, since it may hold other manifests' stages; force only makes every
// item of this run redo its work.
func openState(dir string, force bool) (*state, error) {
	if err := checkStateDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "parts"), 0o755); err != nil {
		return nil, err
	}
	lock, err := journal.Acquire(dir, display(dir))
	if err != nil {
		return nil, err
	}
	st := newState(dir)
	st.lock = lock
	path, lines := filepath.Join(dir, journalName), filepath.Join(dir, journalOfLines)
	converted, err := upgradeJournal(path, lines)
	if err == nil {
		st.j, err = journal.Open(path, st.load)
	}
	var ce *journal.CorruptError
	if errors.As(err, &ce) && converted && !force {
		// The journal of lines is bad: it stays as it was, for its owner
		// to mend, and the error is about it (line n is record n).
		os.Remove(path)
		ce.Path, ce.Lines = lines, true
	}
	if errors.As(err, &ce) && force {
		st.items, st.stages, st.pending, st.lastRun, st.lines = map[string]*itemStore{}, map[string]*entry{}, map[string]*entry{}, nil, 0
		st.bases, st.file, st.jsonItems = map[string]*fingerprint{}, newJournalFile(), 0
		os.Remove(lines)
		if err = os.Remove(path); err == nil || errors.Is(err, fs.ErrNotExist) {
			st.j, err = journal.Open(path, st.load)
		}
	}
	if err != nil {
		if errors.As(err, &ce) {
			ce.Path = display(ce.Path)
		}
		lock.Release()
		return nil, err
	}
	// The journal of records reads well: one of lines is out of date,
	// even where a crash left both.
	if err := os.Remove(lines); err != nil && !errors.Is(err, fs.ErrNotExist) {
		st.j.Close()
		lock.Release()
		return nil, err
	}
	return st, nil
}

// newState is the state of dir before its journal is read.
func newState(dir string) *state {
	return &state{dir: dir, parts: filepath.Join(dir, "parts"), runID: newRunID(), spill: newSpillFile(dir),
		items: map[string]*itemStore{}, stages: map[string]*entry{}, pending: map[string]*entry{}, bases: map[string]*fingerprint{}, file: newJournalFile()}
}

// newStore makes the item store of a stage, which spills to the state's
// file when it has one: a dry run's state changes nothing in the folder.
func (st *state) newStore(stage string) *itemStore {
	s := newItemStore(stage)
	s.spill = st.spill
	return s
}

// upgradeJournal writes the journal of lines zpipe wrote before as the
// journal of records at path, unless there is one already, and says
// whether it did.
func upgradeJournal(path, lines string) (bool, error) {
	if _, err := os.Stat(lines); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	return true, journal.Convert(lines, path)
}

// checkStateDir refuses a state folder that holds what zpipe did not put
// there, such as a project folder given as --state-dir: zpipe removes its
// own leftovers from the state folder, and must never take a user's file
// for one.
func checkStateDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil // absent: zpipe makes it
	}
	var foreign []string
	journaled := false
	for _, e := range ents {
		journaled = journaled || e.Name() == journalName || e.Name() == journalOfLines
	}
	for _, e := range ents {
		switch name := e.Name(); {
		case name == "parts" && e.IsDir() && !journaled:
			// With no journal, zpipe made none of it: a folder of the
			// user's that happens to have a parts/ is not taken for one.
			foreign = append(foreign, foreignParts(filepath.Join(dir, name))...)
		case name == journalName, name == journalOfLines, name == "lock", name == "parts" && e.IsDir(), name == "runs" && e.IsDir(),
			runTemp(filepath.Join(dir, name)), strings.HasPrefix(name, atomicfile.TempPrefix):
		default:
			foreign = append(foreign, name)
		}
	}
	if len(foreign) > 0 {
		return fmt.Errorf("state folder %s holds files zpipe did not make (%s); give --state-dir an empty or new folder", display(dir), shortList(foreign))
	}
	return nil
}

// runTempPrefix starts the name of the folder where a run writes its items'
// parts until they are committed.
const runTempPrefix = ".zpipe-run-"

// foreignParts lists the files in a parts folder that zpipe did not
// name, as parts/name.
func foreignParts(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if !ownPart(e.Name()) {
			out = append(out, "parts/"+e.Name())
		}
	}
	return out
}

// ownPart tells whether a name in the parts folder is one zpipe gives: a
// part, a pack, or a temp file of either.
func ownPart(name string) bool {
	return isPartName(name) || strings.HasPrefix(name, atomicfile.TempPrefix)
}

// runTemp reports whether path is such a folder, left by a killed run:
// with the prefix, or from before it was used, a run-* folder that holds
// only parts.
func runTemp(path string) bool {
	name := filepath.Base(path)
	if strings.HasPrefix(name, runTempPrefix) {
		return true
	}
	if !strings.HasPrefix(name, "run-") {
		return false
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".part") {
			return false
		}
	}
	return true
}

// display shows a path relative to the working folder when it is inside it.
func display(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

// load takes one journal record in.
func (st *state) load(rec []byte) error {
	switch {
	case len(rec) > 0 && rec[0] == tagName:
		return st.file.readName(rec)
	case len(rec) > 0 && rec[0] == tagItem:
		if err := st.loadItem(rec); err != nil {
			return err
		}
		st.lines++
		return nil
	}
	// Only the rare JSON records pay for an entry: made for every record,
	// it was 280 MB of garbage in reading a million items.
	e := new(entry)
	if err := decodeEntry(rec, e); err != nil {
		return err
	}
	if e.Type == "item" {
		st.jsonItems++
	}
	st.lines++
	switch e.Type {
	case "run":
		st.lastRun = e
		return nil
	case "base":
		if e.FP != nil {
			st.bases[e.Key], st.file.bases[e.Key] = e.FP, true
		}
		return nil
	}
	if fp := e.FP; fp != nil && fp.Base != "" {
		// The strings are the base's, shared by its items. A base the
		// journal lost leaves them empty: the item runs again.
		if b := st.bases[fp.Base]; b != nil {
			fp.Schema, fp.Transform, fp.Settings, fp.Version = b.Schema, b.Transform, b.Settings, b.Version
		}
		fp.Base = ""
	}
	return st.index(e)
}

// allItems yields a copy of the latest entry of every item of every
// stage; put stores a changed one.
func (st *state) allItems() iter.Seq[*entry] {
	return func(yield func(*entry) bool) {
		for _, items := range st.items {
			for e := range items.all() {
				if !yield(e) {
					return
				}
			}
		}
	}
}

// savedParts yields where the parts of every item not removed are.
func (st *state) savedParts() iter.Seq[partRef] {
	return func(yield func(partRef) bool) {
		for _, items := range st.items {
			for p := range items.savedParts() {
				if !yield(p) {
					return
				}
			}
		}
	}
}

// index keeps an entry as the latest of its item or stage.
func (st *state) index(e *entry) error {
	switch e.Type {
	case "item":
		items := st.items[e.Stage]
		if items == nil {
			items = st.newStore(e.Stage)
			st.items[e.Stage] = items
		}
		items.put(e)
	case "stage":
		if e.Status == "removed" {
			delete(st.stages, e.Stage)
		} else {
			st.stages[e.Stage] = e
		}
	case "commit":
		if e.Status == "begin" {
			st.pending[e.Stage] = e
		} else {
			delete(st.pending, e.Stage)
		}
	case "run", "base":
	default:
		return fmt.Errorf("unknown entry type %q", e.Type)
	}
	return nil
}

// readState reads a state folder without changing anything in it, for a
// dry run: no lock, no journal writes, no folders made. Its item stores
// spill to spill, when not nil.
func readState(dir string, spill *spillFile) (*state, error) {
	if err := checkStateDir(dir); err != nil {
		return nil, err
	}
	st := &state{dir: dir, parts: filepath.Join(dir, "parts"), items: map[string]*itemStore{}, stages: map[string]*entry{}, pending: map[string]*entry{},
		bases: map[string]*fingerprint{}, file: newJournalFile(), spill: spill}
	if err := readJournal(journalIn(dir), st.load); err != nil {
		var ce *journal.CorruptError
		if errors.As(err, &ce) {
			ce.Path = display(ce.Path)
		}
		return nil, err
	}
	return st, nil
}

func newRunID() string {
	b := make([]byte, 3)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func (st *state) append(e *entry) error { return st.appendAll(e) }

// appendAll writes entries to the journal in one write, each behind the
// base it names.
func (st *state) appendAll(es ...*entry) error {
	now := time.Now().UTC()
	st.mu.Lock()
	for _, e := range es {
		e.Run = st.runID
		if e.Time.IsZero() {
			e.Time = now
		}
		st.index(e)
		st.lines++
	}
	st.mu.Unlock()
	st.baseMu.Lock()
	defer st.baseMu.Unlock()
	recs := make([][]byte, 0, len(es))
	for _, e := range es {
		var err error
		if recs, err = st.file.records(e, recs); err != nil {
			// Names given out for records not written.
			st.file = newJournalFile()
			return err
		}
	}
	if err := st.j.AppendAll(recs...); err != nil {
		// Not in the file after all: write them again next time.
		st.file = newJournalFile()
		return err
	}
	return nil
}

// item returns a copy of the latest entry of an item, or nil.
func (st *state) item(stage, key string) *entry {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if items := st.items[stage]; items != nil {
		return items.get(key)
	}
	return nil
}

func (st *state) stage(stage string) *entry {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.stages[stage]
}

// rename is one step of a commit: a temp file, the output it replaces,
// and the sha256 of its bytes; paths are relative to the state folder.
type rename struct {
	Temp   string `json:"temp"`
	Target string `json:"target"`
	SHA256 string `json:"sha256"`
}

// commit replaces a stage's outputs with the files written in g, all or
// none: the journal records the renames, with each new file's sha256,
// before the first one and syncs, so that a crash between two renames is
// rolled forward by the next run; then it records done, the stage entry
// first when there is one. sum gives the sha256 of the file for a target.
func (st *state) commit(g *atomicfile.Group, stage string, done *entry, sum func(target string) string, stale []stale) error {
	intent := func(renames [][2]string) error {
		e := &entry{Type: "commit", Stage: stage, Status: "begin", Then: done}
		for _, r := range renames {
			e.Renames = append(e.Renames, rename{st.rel(r[0]), st.rel(r[1]), sum(r[1])})
		}
		for _, f := range stale {
			e.Removes = append(e.Removes, rename{Target: st.rel(f.path), SHA256: f.sum})
		}
		if err := st.append(e); err != nil {
			return err
		}
		if err := st.j.Sync(); err != nil {
			return err
		}
		if commitHook != nil {
			return commitHook(renames)
		}
		return nil
	}
	if err := g.Commit(intent); err != nil {
		return err
	}
	for _, f := range stale {
		f.remove()
	}
	return st.finish(stage, done)
}

// stale is a file a commit removes: at path, with what zpipe wrote there,
// and how it goes.
type stale struct {
	path, sum string
	remove    func()
}

// repackHook, when set by a test, runs after new packs are durable and
// before the journal names them, to stand in for a crash there.
var repackHook func() error

// commitHook, when set by a test, runs after a commit's intent is durable
// and before its renames, to stand in for a crash there.
var commitHook func(renames [][2]string) error

// finish records that a stage's commit is done.
func (st *state) finish(stage string, done *entry) error {
	if done != nil {
		if err := st.append(done); err != nil {
			return err
		}
	}
	return st.append(&entry{Type: "commit", Stage: stage, Status: "done"})
}

// complete does what is left of a pending commit, if all of it can be
// done: each temp file must still be there, or its target must already
// hold the new bytes. Otherwise it does none of it, and drops the commit:
// the stage's entry is left as it was, so that the stage, whose outputs
// no longer match it, rebuilds them.
func (st *state) complete(e *entry) error {
	renames := make([][2]string, len(e.Renames))
	for i, r := range e.Renames {
		renames[i] = [2]string{filepath.Join(st.dir, r.Temp), filepath.Join(st.dir, r.Target)}
		if _, err := os.Stat(renames[i][0]); err == nil {
			continue
		}
		if got, err := hashFile(context.Background(), renames[i][1]); err != nil || got != r.SHA256 {
			if err := st.finish(e.Stage, nil); err != nil {
				return fmt.Errorf("the new %s is gone, and the journal cannot say so: %w", r.Target, err)
			}
			return fmt.Errorf("the new %s is gone", r.Target)
		}
	}
	if err := atomicfile.RollForward(renames); err != nil {
		return err
	}
	for _, r := range e.Removes {
		// Unless changed since: the commit would have kept it.
		target := filepath.Join(st.dir, r.Target)
		if got, err := hashFile(context.Background(), target); err == nil && got == r.SHA256 {
			os.Remove(target)
		}
	}
	var then *entry
	if e.Then != nil {
		t := *e.Then
		t.Time = time.Time{}
		then = &t
	}
	return st.finish(e.Stage, then)
}

// rel names a path relative to the state folder.
func (st *state) rel(p string) string {
	if r, err := filepath.Rel(st.dir, p); err == nil {
		return r
	}
	return p
}

// close ends the run in the journal, drops parts no entry refers to, and
// releases the folder.
func (st *state) close(status string) error {
	err := st.append(&entry{Type: "run", Status: status, Time: time.Now().UTC()})
	if cerr := st.j.Close(); err == nil {
		err = cerr
	}
	if status == "finished" {
		repacked := false
		var live map[string]bool
		if err == nil {
			live, repacked, err = st.repack()
		}
		if err == nil && repacked && repackHook != nil {
			err = repackHook()
		}
		if err == nil {
			// Item entries read as JSON are rewritten as records.
			err = st.compact(repacked || st.jsonItems > 0)
		}
		// Entries moved to new packs are not on disk until the journal
		// is rewritten: until then the old packs must stay.
		if err == nil || !repacked {
			if repacked {
				live = nil // the entries name the new packs
			}
			st.collect(live)
		}
	}
	if rerr := st.lock.Release(); err == nil {
		err = rerr
	}
	return err
}

// compact rewrites the journal with only the latest entries once most of
// its lines are history, so that it does not grow with every run. The new
// journal replaces the old by rename: a crash leaves one or the other.
func (st *state) compact(force bool) error {
	live := len(st.stages) + 1
	for _, items := range st.items {
		live += items.len()
	}
	if st.lines < 2*live+1000 && !force {
		return nil
	}
	path := filepath.Join(st.dir, journalName)
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		bw.WriteString(journal.Magic)
		file := newJournalFile()
		var recs [][]byte
		var frame []byte
		write := func(e *entry) error {
			var err error
			if recs, err = file.records(e, recs[:0]); err != nil {
				return err
			}
			for _, r := range recs {
				frame = journal.AppendFrame(frame[:0], r)
				if _, err := bw.Write(frame); err != nil {
					return err
				}
			}
			return nil
		}
		for _, stage := range slices.Sorted(maps.Keys(st.items)) {
			items := st.items[stage]
			for _, k := range slices.Sorted(items.keys()) {
				if e := items.get(k); e.Status != "removed" {
					if err := write(e); err != nil {
						return err
					}
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(st.stages)) {
			if err := write(st.stages[k]); err != nil {
				return err
			}
		}
		for _, k := range slices.Sorted(maps.Keys(st.pending)) {
			if err := write(st.pending[k]); err != nil {
				return err
			}
		}
		if err := write(&entry{Type: "run", Run: st.runID, Status: "finished", Time: time.Now().UTC()}); err != nil {
			return err
		}
		return bw.Flush()
	})
}

// collect removes parts that no latest entry refers to: those of inputs
// that changed or went away, and packs none of whose parts is used.
// live, when set, is the files the entries name, as repack found them.
func (st *state) collect(live map[string]bool) {
	if live == nil {
		live = st.partFiles()
	}
	names, _ := os.ReadDir(st.parts)
	for _, n := range names {
		if !live[n.Name()] && ownPart(n.Name()) {
			os.Remove(filepath.Join(st.parts, n.Name()))
		}
	}
}

// partFiles is the set of the files the entries name.
func (st *state) partFiles() map[string]bool {
	live := map[string]bool{}
	for p := range st.savedParts() {
		live[p.File] = true
	}
	return live
}

// repackMin is the room that packs must waste before repack rewrites
// them: below it, copying the parts they still hold costs more than the
// room is worth.
var repackMin int64 = 4 << 20

// repack copies the parts still used out of packs that are mostly unused
// (the other items of their group changed since) into new packs, and
// points the entries at the copies, so that a pack is not kept whole for
// one small part. It reports whether it moved any: the journal must then
// be rewritten before the old packs go. It also returns the files the
// entries named before it moved any, which collect would find again: on
// a rerun of many items, each walk of them is a twentieth of the run.
func (st *state) repack() (live map[string]bool, repacked bool, err error) {
	used := map[string]int64{}
	live = map[string]bool{}
	for p := range st.savedParts() {
		live[p.File] = true
		// A journal edited to name a file outside the parts folder, or
		// a section outside a pack, is never read: reason sends such an
		// item to run again.
		if p.packed() && isPartName(p.File) && p.Offset >= 0 && p.Size >= 0 {
			used[p.File] += p.Size
		}
	}
	sparse, wasted := map[string]bool{}, int64(0)
	for name, n := range used {
		fi, err := os.Stat(filepath.Join(st.parts, name))
		if err != nil {
			continue // its items run again: reason says the part is missing
		}
		if fi.Size() > 2*n {
			sparse[name] = true
			wasted += fi.Size() - n
		}
	}
	if wasted < repackMin {
		return live, false, nil
	}
	// The entries are copies: keep those that change, to store them.
	var refs []*partRef
	var changed []*entry
	for e := range st.allItems() {
		if e.Status == "removed" {
			continue
		}
		n := len(refs)
		for _, p := range e.partRefs() {
			if sparse[p.File] && p.Offset >= 0 && p.Size >= 0 {
				refs = append(refs, p)
			}
		}
		if len(refs) > n {
			changed = append(changed, e)
		}
	}
	// Copy in the order of the old packs, so that reads go forward.
	slices.SortFunc(refs, func(a, b *partRef) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return int(min(max(a.Offset-b.Offset, -1), 1))
	})
	pk, err := st.newPack()
	if err != nil {
		return live, false, err
	}
	moved := make([]partRef, len(refs))
	packs := &packFile{}
	defer packs.Close()
	for i, p := range refs {
		moved[i] = *p
		src := st.open(context.Background(), *p, packs)
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(pk.w, h), src)
		src.Close()
		if err == nil && n == p.Size && hex.EncodeToString(h.Sum(nil)) == p.SHA256 {
			moved[i].File, moved[i].Offset = pk.name, pk.off
		}
		// A part cut short or changed stays where it is, for reason or
		// recheckParts to send its item to run again.
		pk.off += n
	}
	if err = pk.close(); err == nil {
		err = pk.commit()
	}
	if err == nil {
		err = st.syncParts()
	}
	if err != nil {
		pk.abort()
		return live, false, err
	}
	for i, p := range refs {
		*p = moved[i]
	}
	for _, e := range changed {
		st.items[e.Stage].put(e)
	}
	return live, true, nil
}

// hashFile returns the sha256 of a file.
func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return hashReader(ctx, f)
}

// hashReader returns the sha256 of what r gives; ctx stops a long read.
func hashReader(ctx context.Context, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, r}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long read (hashing or joining gigabytes) when its
// context ends, so that a second Ctrl-C is not kept waiting.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func hashString(parts ...string) string {
	h := newStringHash()
	for _, p := range parts {
		h.add(p)
	}
	return h.sum()
}

// stringHash is hashString fed a string at a time, for more strings than
// are worth holding at once.
type stringHash struct{ h hash.Hash }

func newStringHash() stringHash { return stringHash{sha256.New()} }

func (s stringHash) add(p string) {
	io.WriteString(s.h, p)
	s.h.Write([]byte{0})
}

func (s stringHash) addBytes(p []byte) {
	s.h.Write(p)
	s.h.Write([]byte{0})
}

func (s stringHash) sum() string { return hex.EncodeToString(s.h.Sum(nil)) }

// syncParts makes the renames of committed parts durable.
func (st *state) syncParts() error { return atomicfile.SyncDir(st.parts) }

// reason explains why an item must run, comparing what it depends on now
// with what the journal recorded; "" means it is up to date.
func (st *state) reason(prev *entry, fp *fingerprint) string {
	switch {
	case prev == nil, prev.Status == "removed":
		return "new"
	case prev.Status != "done":
		return "failed last time"
	case prev.FP == nil:
		return "no fingerprint recorded"
	case prev.FP.Input != fp.Input:
		return "input changed"
	case prev.FP.Schema != fp.Schema:
		return "schema changed"
	case prev.FP.Transform != fp.Transform:
		return "transform changed"
	case prev.FP.Settings != fp.Settings:
		return "stage settings changed"
	case prev.FP.Version != fp.Version:
		return "zpipe version changed (was " + prev.FP.Version + ")"
	}
	for _, p := range prev.allParts() {
		if !isPartName(p.File) {
			return "the journal names a part outside the parts folder"
		}
		size, err := st.partSize(p)
		switch {
		case err != nil:
			return "its saved part is missing"
		case p.packed() && (p.Offset < 0 || p.Size < 0 || p.Offset > size-p.Size):
			return "its saved part was changed"
		case !p.packed() && p.Size > 0 && size != p.Size:
			return "its saved part was changed"
		}
	}
	return ""
}

// part is an item entry's part for output k, its rejects for -1.
func (e *entry) part(k int) (partRef, bool) {
	if k < 0 {
		if e.Rejects == nil {
			return partRef{}, false
		}
		return *e.Rejects, true
	}
	for _, p := range e.Parts {
		if p.Output == k {
			return p, true
		}
	}
	return partRef{}, false
}

// partRefs points at an item entry's parts, its rejects part last, for
// the committer to say where each was saved.
func (e *entry) partRefs() []*partRef {
	refs := make([]*partRef, 0, len(e.Parts)+1)
	for k := range e.Parts {
		refs = append(refs, &e.Parts[k])
	}
	if e.Rejects != nil {
		refs = append(refs, e.Rejects)
	}
	return refs
}

// partSize is the size of a part's file. A pack's is asked once a run:
// packs are written whole and never grow, and a million items name a few
// thousand of them.
func (st *state) partSize(p partRef) (int64, error) {
	if p.packed() {
		st.mu.RLock()
		n, ok := st.packSizes[p.File]
		st.mu.RUnlock()
		if ok {
			return n, nil
		}
	}
	fi, err := os.Stat(filepath.Join(st.parts, p.File))
	if err != nil {
		return 0, err
	}
	if p.packed() {
		st.mu.Lock()
		if st.packSizes == nil {
			st.packSizes = map[string]int64{}
		}
		st.packSizes[p.File] = fi.Size()
		st.mu.Unlock()
	}
	return fi.Size(), nil
}

// allParts lists an item entry's parts, its rejects part last.
func (e *entry) allParts() []partRef {
	parts := append([]partRef(nil), e.Parts...)
	if e.Rejects != nil {
		parts = append(parts, *e.Rejects)
	}
	return parts
}

// shortList names up to three items, then how many more.
func shortList(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
}

// earlyState is a journal being read while the run checks its manifests:
// on a rerun of many files, reading the journal and walking the sources
// each take a sixth of the run, and neither needs the other. It is read
// without the lock and changes nothing, so a run the check refuses
// leaves the state folder as it was, and free.
type earlyState struct {
	done chan struct{}
	st   *state
	snap journal.Snapshot
}

// readStateEarly starts reading the journal of dir, when it has one that
// can be read as it is. Anything else (a first run, a journal to repair
// or to convert, --force, which may start a corrupt one afresh) is left
// to openState, once the run is known to go ahead.
func readStateEarly(dir string, force bool) *earlyState {
	if force {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, journalOfLines)); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, journalName)); err != nil {
		return nil
	}
	e := &earlyState{done: make(chan struct{})}
	go func() {
		defer close(e.done)
		st := newState(dir)
		snap, ok, err := journal.ReadSnapshot(filepath.Join(dir, journalName), st.load)
		if err == nil && ok {
			e.st, e.snap = st, snap
		}
	}()
	return e
}

// open takes the lock and opens the journal read early for appending. It
// returns nil when there is none, or when the journal changed since it
// was read: openState then opens it afresh.
func (e *earlyState) open() *state {
	if e == nil {
		return nil
	}
	<-e.done
	if e.st == nil {
		return nil
	}
	if err := os.MkdirAll(e.st.parts, 0o755); err != nil {
		e.st.spill.close()
		return nil // openState says why
	}
	lock, err := journal.Acquire(e.st.dir, display(e.st.dir))
	if err != nil {
		e.st.spill.close()
		return nil
	}
	j, ok, err := e.snap.Open()
	if err != nil || !ok {
		lock.Release()
		e.st.spill.close()
		return nil
	}
	e.st.j, e.st.lock = j, lock
	return e.st
}

// discard waits for the read to end, for a run that will not start.
func (e *earlyState) discard() {
	if e != nil {
		<-e.done
		if e.st != nil {
			e.st.spill.close()
		}
	}
}
