package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
)

// Item is one unit of a stage's input: a file, a chunk of a large
// line-oriented one, or what a Source that is not a file system gives,
// that the engine fingerprints, opens and runs.
type Item struct {
	// Key names the item in the journal, the same from run to run.
	Key string
	// Name is how messages show the item.
	Name string
	// Path is the file; output placeholders ({stem}, {dir}) are filled in
	// from it. An item that is not a file names one it stands for.
	Path string
	// Format is the item's format, detected when the stage does not say.
	Format format.Format
	// Size is the number of bytes to read.
	Size int64
	// Chunk is set for a part of a file: where it starts and ends, and
	// the line and record it starts at.
	Chunk *format.Chunk
	// Err is set when the item cannot even start, such as an unknown
	// format; the item fails with it.
	Err error
	// Open, when set, reads the item (a chunk's bytes alone); otherwise
	// the engine reads Path. It may be called more than once: for the
	// fingerprint, for each attempt, for the rejects.
	Open func() (io.ReadCloser, error)
	// Fingerprint, when set, stands for the item's content: the same
	// Fingerprint is the same bytes, so the engine neither stats nor
	// hashes the item to tell whether it changed. Otherwise a file is
	// known by its stat and sha256, and an item with Open by its sha256.
	Fingerprint string
	// runs, when set, says why the item runs whatever the journal says.
	runs string
	// listed is the file's stat when the source listed it, so that the
	// fingerprint need not stat it again.
	listed *fileStat
}

// Source lists the items a stage reads, in input order.
type Source interface {
	Items(ctx context.Context) ([]Item, error)
}

// sourcesOf is the stage's sources: its globs, and standard input where
// its paths name "-", in the order the paths give.
func (sr *stageRun) sourcesOf() []Source {
	if f := sr.r.opts.Source; f != nil {
		return []Source{f(sr.m, sr.s)}
	}
	var out []Source
	paths, from := sr.s.Source.Paths, 0
	for i, p := range paths {
		if p != pipeline.Stdin {
			continue
		}
		if i > from {
			out = append(out, &globSource{sr: sr, from: from, to: i})
		}
		out = append(out, &stdinSource{r: sr.r.stdin, dir: sr.r.tmp, m: sr.m, format: sr.s.Source.Format, chunk: sr.r.opts.ChunkSize, whole: sr.s.Source.Whole})
		from = i + 1
	}
	if len(paths) > from {
		out = append(out, &globSource{sr: sr, from: from, to: len(paths)})
	}
	return out
}

// globSource lists the files that the stage's paths from to to match.
// The stage's globs are resolved together, so that a file two of them
// match is listed once, by the first, even across "-".
type globSource struct {
	sr       *stageRun
	from, to int
	// known, when set, stands in for sr.chunksOf: the chunks of a file
	// to cut.
	known func(name string, st *fileStat) []format.Chunk
}

func (g *globSource) Items(ctx context.Context) ([]Item, error) {
	listed, err := g.items(ctx)
	out := make([]Item, len(listed))
	for i := range listed {
		out[i] = listed[i].Item
	}
	return out, err
}

// items lists the files the globs match as the stage's items.
func (g *globSource) items(ctx context.Context) ([]item, error) {
	src, err := g.sr.resolveSources()
	if err != nil {
		return nil, err
	}
	first, n := 0, 0
	for k, c := range src.PathFiles {
		switch {
		case k < g.from:
			first += c
		case k < g.to:
			n += c
		}
	}
	return g.list(ctx, nil, src.Files[first:first+n]), nil
}

// resolveSources finds what the stage's globs match, once a run, and says
// what they leave out.
func (sr *stageRun) resolveSources() (*pipeline.Sources, error) {
	if sr.resolved != nil {
		return sr.resolved, nil
	}
	m := sr.m
	// What the run's check found is what the stage would find, unless
	// something wrote or removed an output since: a stage can read
	// another's output through a link, which no dependency shows.
	src := sr.r.guard.Found(sr.s)
	if src == nil || sr.r.outputsTouched.Load() || len(sr.n.deps) > 0 || sr.r.manifests > 1 {
		var err error
		if src, err = sr.s.Resolve(m, sr.r.opts.StateDir); err != nil {
			return nil, err
		}
	}
	if err := sr.checkOwnFiles(src); err != nil {
		return nil, err
	}
	for _, p := range src.Empty {
		sr.r.emit(Event{Kind: Warning, Stage: sr.s.Name, Msg: fmt.Sprintf("stage %s: source %q matches no file", sr.s.Name, p)})
	}
	for _, why := range src.Skipped {
		sr.r.emit(Event{Kind: Warning, Stage: sr.s.Name, Msg: "stage " + sr.s.Name + ": " + why})
	}
	sr.sources = src.Reals() // shared with the guard
	sr.resolved = src
	return src, nil
}

// list makes the items of files, in order, straight into the stage's
// items: listing a million files into []Item first and copying it held
// both, 320 MB at the peak of a rerun. Unless a file is cut in chunks,
// they are made in into's array when it is big enough.
func (g *globSource) list(ctx context.Context, into []item, files []pipeline.SourceFile) []item {
	sr, m := g.sr, g.sr.m
	known := sr.chunksOf
	if g.known != nil {
		known = g.known
	}
	out := resized(into, len(files))
	// A stat per file is most of listing a tree of small files: each
	// core takes a run of the files. A file cut in chunks is set aside,
	// and spread out once all are listed.
	workers := min(runtime.GOMAXPROCS(0), 1+len(files)/1000)
	chunked := make([]map[int][]Item, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			scratch := make([]Item, 0, 1)
			for j := w * len(files) / workers; j < (w+1)*len(files)/workers; j++ {
				f := files[j]
				got := appendFileItems(ctx, scratch[:0], f.Path, m.Rel(f.Path), sr.s.Source.Format, sr.r.opts.ChunkSize, sr.s.Source.Whole, known)
				if len(got) == 1 {
					out[j].Item = got[0]
					continue
				}
				if chunked[w] == nil {
					chunked[w] = map[int][]Item{}
				}
				chunked[w][j] = slices.Clone(got)
				scratch = got[:0]
			}
		})
	}
	wg.Wait()
	cut := map[int][]Item{}
	for _, c := range chunked {
		maps.Copy(cut, c)
	}
	if len(cut) == 0 {
		return out
	}
	n := len(out)
	for _, c := range cut {
		n += len(c) - 1
	}
	spread := make([]item, 0, n)
	for j := range out {
		if c, ok := cut[j]; ok {
			for _, it := range c {
				spread = append(spread, item{Item: it})
			}
			continue
		}
		spread = append(spread, out[j])
	}
	return spread
}

// resized returns s with n zero elements, in s's array when it is big
// enough.
func resized[T any](s []T, n int) []T {
	s = slices.Grow(s[:0], n)[:n]
	clear(s)
	return s
}

// fileItems makes the items of one file: the file, or its chunks when its
// format is Chunked and it is larger than chunk bytes, so that it uses
// every core. A json file read whole (the source's whole) is one record,
// so it is not cut. known, when set, gives the chunks the journal has for
// the file as it is now, which spares reading it to cut it.
func fileItems(ctx context.Context, path, name string, f format.Format, chunk int64, whole bool, known func(string, *fileStat) []format.Chunk) []Item {
	return appendFileItems(ctx, nil, path, name, f, chunk, whole, known)
}

// appendFileItems appends the items of one file to dst, as fileItems.
func appendFileItems(ctx context.Context, dst []Item, path, name string, f format.Format, chunk int64, whole bool, known func(string, *fileStat) []format.Chunk) []Item {
	it := Item{Key: name, Name: name, Path: path, Format: f}
	if st, err := statOf(path); err == nil {
		it.Size, it.listed = st.Size, st
	}
	if it.Format == "" {
		it.Format, it.Err = detect(path, name)
	}
	if it.Err != nil || !it.Format.Chunked() || whole && it.Format == format.JSON || it.Size <= chunk || compressed(path) {
		// A compressed file is one item: its records cannot be found
		// without reading it all.
		return append(dst, it)
	}
	var chunks []format.Chunk
	var err error
	if known != nil {
		chunks = known(name, it.listed)
	}
	if chunks == nil {
		chunks, err = splitFile(ctx, path, it.Format, chunk)
	}
	if err != nil || len(chunks) <= 1 {
		it.Err = err
		return append(dst, it)
	}
	for i := range chunks {
		c := &chunks[i]
		ci := it
		ci.Chunk, ci.Size = c, c.Size
		// Offsets, sizes and the starting line, column and record all
		// go in, so that another chunk size or a shifted numbering is
		// another item. (A line's chunks start at column 1, and their
		// keys leave it out.)
		ci.Key = fmt.Sprintf("%s@%d+%d:%d:%d", name, c.Offset, c.Size, c.Line, c.Record)
		if c.Col > 1 {
			ci.Key += ":" + strconv.Itoa(c.Col)
		}
		dst = append(dst, ci)
	}
	return dst
}

func detect(path, name string) (format.Format, error) {
	if ft, ok := format.FromName(name); ok {
		return ft, nil // without opening the file: there may be a million
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r, _, err := format.Decompress(f)
	if err != nil {
		return "", err
	}
	defer r.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(r, head)
	if ft, ok := format.Detect(name, head[:n]); ok {
		return ft, nil
	}
	return "", fmt.Errorf("cannot tell the format of the file from its name or content; set source.format to one of %s", format.Names())
}

// compressed says whether a file starts as gzip or zstd data does.
func compressed(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	_, c, _ := format.Decompress(io.LimitReader(f, 4))
	return c != ""
}

// stdinSource reads standard input once, into a file in the run's working
// folder, and lists it as items like any file: hashed, so that the same
// input again is up to date, and split when it is large ndjson.
type stdinSource struct {
	r      *spool
	dir    string
	m      *pipeline.Manifest
	format format.Format
	chunk  int64
	whole  bool
}

// stdinLabel is how messages and the journal name standard input.
const stdinLabel = "<stdin>"

func (s *stdinSource) Items(ctx context.Context) ([]Item, error) {
	if s.r == nil {
		// A dry run does not take standard input away from the run.
		return []Item{{Key: stdinLabel, Name: stdinLabel, Path: filepath.Join(s.m.Dir, "stdin"), Format: s.format, runs: "it reads standard input, which plan leaves for the run"}}, nil
	}
	path, err := s.r.file(ctx, s.dir)
	if err != nil {
		return nil, fmt.Errorf("reading standard input: %w", err)
	}
	items := fileItems(ctx, path, stdinLabel, s.format, s.chunk, s.whole, nil)
	for i := range items {
		// Placeholders see standard input as a file named stdin beside
		// the manifest.
		items[i].Path = filepath.Join(s.m.Dir, "stdin")
		c := items[i].Chunk
		items[i].Open = func() (io.ReadCloser, error) { return OpenChunk(path, c) }
	}
	return slices.Clip(items), nil
}

// spool copies a reader to a file once, however many stages read it.
type spool struct {
	r    io.Reader
	once sync.Once
	path string
	err  error
}

func (s *spool) file(ctx context.Context, dir string) (string, error) {
	s.once.Do(func() {
		var f *os.File
		if f, s.err = os.CreateTemp(dir, "stdin-*"); s.err != nil {
			return
		}
		defer f.Close()
		s.path = f.Name()
		_, s.err = io.Copy(f, ctxReader{ctx, s.r})
	})
	return s.path, s.err
}

// open opens the spooled copy, reading the reader into it the first time.
func (s *spool) open(ctx context.Context, dir string) (*os.File, error) {
	path, err := s.file(ctx, dir)
	if err != nil {
		return nil, err
	}
	return os.Open(path)
}

// remove deletes the spooled copy, if there is one.
func (s *spool) remove() {
	if s.path != "" {
		os.Remove(s.path)
	}
}

// smallFile is the size up to which an input is read in one call: a tree
// of one-record files cost three or four reads a file (sniffing its
// compression, filling the decoder's window, meeting its end).
const smallFile = 64 << 10

// openSmall reads a file listed at size bytes with one read when it
// still has that size, and goes on reading it when it has not.
func openSmall(path string, size int64) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size+1)
	n, err := f.Read(buf)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, err
	}
	if int64(n) == size {
		// Short of the byte asked beyond it: the end of a regular file.
		f.Close()
		return io.NopCloser(bytes.NewReader(buf[:n])), nil
	}
	// Grown or shrunk since it was listed: the rest is read as it comes.
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf[:n]), f), f}, nil
}

// OpenChunk opens a file, or the chunk of it that c says. Distributed
// executors' workers use it too, so that a chunk the file no longer holds
// fails wherever it is read.
func OpenChunk(path string, c *format.Chunk) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil || c == nil {
		return f, err
	}
	return struct {
		io.Reader
		io.Closer
	}{&sectionReader{r: io.NewSectionReader(f, c.Offset, c.Size), left: c.Size}, f}, nil
}

// sectionReader reads a chunk and fails if the file ends before it does:
// a file cut shorter since it was split must not end a chunk quietly,
// with its last records missing from the outputs.
type sectionReader struct {
	r    io.Reader
	left int64
}

func (s *sectionReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.left -= int64(n)
	if err == io.EOF && s.left > 0 {
		err = fmt.Errorf("the file ends %d bytes before this chunk does: it changed after it was split; the next run reads it again", s.left)
	}
	return n, err
}

// checkOwnFiles refuses a stage whose globs match a file that it would
// replace with an output, unless zpipe wrote that output there: an output
// folder linked into the sources' (out -> data) made the stage replace
// its own input, a user's file, with its output.
func (sr *stageRun) checkOwnFiles(src *pipeline.Sources) error {
	var prev *entry
	if sr.r.state != nil && len(src.Own) > 0 {
		prev = sr.r.state.stage(sr.id())
	}
	for _, f := range src.Own {
		out, found := sr.m.Rel(f.Output), sr.m.Rel(f.Path)
		if prev != nil && prev.Outputs[out] != "" {
			// And still holds what zpipe wrote: the journal is not
			// trusted, and the user may have put their own data there.
			if sum, err := hashFile(sr.ctx, f.Path); err == nil && sum == prev.Outputs[out] {
				continue
			}
		}
		if found != out {
			out += ", which is " + found + ","
		}
		return fmt.Errorf("output %s is a file that the stage's sources match and that zpipe did not write there, or that was changed since: it is not replaced; remove it if it is an old output of the stage", out)
	}
	return nil
}
