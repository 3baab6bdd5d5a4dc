// Tests from a fresh-eyes review of loadItem: every record loads as
// readItem followed by put would load it.

package engine

import (
	"fmt"
	"hash/maphash"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

func rvState() *state {
	return &state{items: map[string]*itemStore{}, stages: map[string]*entry{}, pending: map[string]*entry{}, bases: map[string]*fingerprint{}, file: newJournalFile()}
}

// rvSlowLoad is load as it was before loadItem: readItem, the base, put.
func rvSlowLoad(st *state, rec []byte) error {
	if len(rec) == 0 || rec[0] != tagItem {
		return st.load(rec)
	}
	var e entry
	if err := st.file.readItem(rec, &e); err != nil {
		return err
	}
	st.lines++
	if fp := e.FP; fp != nil && fp.Base != "" {
		if b := st.bases[fp.Base]; b != nil {
			fp.Schema, fp.Transform, fp.Settings, fp.Version = b.Schema, b.Transform, b.Settings, b.Version
		}
		fp.Base = ""
	}
	return st.index(&e)
}

// rvCompare loads recs both ways and compares every item. It returns the
// first difference, or "".
func rvCompare(t *testing.T, recs [][]byte) string {
	t.Helper()
	fast, slow := rvState(), rvState()
	for i, rec := range recs {
		ferr, serr := fast.load(rec), rvSlowLoad(slow, rec)
		if (ferr == nil) != (serr == nil) {
			return fmt.Sprintf("record %d: errors differ: %v / %v", i, ferr, serr)
		}
		if ferr != nil && i < len(recs)-1 {
			return "" // a bad record mid-file ends the journal
		}
	}
	if len(fast.items) != len(slow.items) {
		return "stores differ"
	}
	for stage, s := range slow.items {
		for k := range s.keys() {
			got, want := fast.item(stage, k), slow.item(stage, k)
			if !reflect.DeepEqual(got, want) {
				t.Logf("key %q\nloadItem: time %v, fp %+v\nold:      time %v, fp %+v", k, got.Time, got.FP, want.Time, want.FP)
				return "item differs"
			}
		}
		if fast.items[stage].len() != s.len() {
			return "item counts differ"
		}
	}
	return ""
}

// rvName makes a name record.
func rvName(id uint64, v string) []byte {
	w := recordWriter{b: []byte{tagName}}
	w.uvarint(id)
	w.str(v)
	return w.b
}

// rvItem is an item record with every field settable.
type rvItem struct {
	stage, status, run, base uint64
	key, err                 string
	fp                       bool
	time                     bool
	sec, off                 int64
	nsec                     uint64
}

func (it rvItem) bytes() []byte {
	w := recordWriter{b: []byte{tagItem}}
	w.uvarint(it.stage)
	w.str(it.key)
	w.uvarint(it.status)
	w.uvarint(it.run)
	w.str(it.err)
	if it.fp {
		w.uvarint(1)
		w.sum(strings.Repeat("ab", 32))
		w.uvarint(it.base)
	} else {
		w.uvarint(0)
	}
	w.uvarint(0) // stat
	w.uvarint(0) // parts
	w.uvarint(0) // rejects
	for range 5 {
		w.varint(0)
	}
	if it.time {
		w.uvarint(1)
		w.varint(it.sec)
		w.uvarint(it.nsec)
		w.varint(it.off)
	} else {
		w.uvarint(0)
	}
	return w.b
}

// names 0..3: stage, "done", "r1", and a base name.
func rvHead(base string) [][]byte {
	return [][]byte{rvName(0, "p.yaml#s"), rvName(1, "done"), rvName(2, "r1"), rvName(3, base)}
}

// A time at the zero instant with a zone: pack writes it as no time.
func TestLoadItemZeroInstantWithZone(t *testing.T) {
	zero := time.Time{}.Unix()
	for _, off := range []int64{0, 3600, -7200} {
		recs := append(rvHead("b"), rvItem{status: 1, run: 2, key: "k", time: true, sec: zero, off: off}.bytes())
		if d := rvCompare(t, recs); d != "" {
			t.Errorf("off %d: %s", off, d)
		}
	}
}

// A base named "": the old load never applied one.
func TestLoadItemEmptyBaseName(t *testing.T) {
	recs := [][]byte{[]byte(`{"type":"base","run":"r1","key":"","fp":{"input":"","schema":"S","version":"v"}}`)}
	recs = append(recs, rvHead("")...)
	recs = append(recs, rvItem{status: 1, run: 2, key: "k", fp: true, base: 3}.bytes())
	if d := rvCompare(t, recs); d != "" {
		t.Error(d)
	}
}

// A missing base, a redefined name id, JSON time bounds.
func TestLoadItemEdgeRecords(t *testing.T) {
	recs := append(rvHead("nosuchbase"), rvItem{status: 1, run: 2, key: "a", fp: true, base: 3}.bytes(),
		rvName(1, "failed"), rvName(2, "r2"), rvItem{status: 1, run: 2, key: "b"}.bytes(),
		rvItem{status: 2, run: 1, key: "a", time: true, sec: minJSONTime, nsec: 999999999, off: 86399}.bytes(),
		rvItem{status: 2, run: 1, key: "c", time: true, sec: maxJSONTime, off: -86399}.bytes())
	if d := rvCompare(t, recs); d != "" {
		t.Error(d)
	}
}

// rvGen writes a random item record with names in recs.
func rvGen(r *rand.Rand, f *journalFile, recs *[][]byte) {
	ints := []int64{0, 1, -1, 63, -64, 64, math.MaxInt64, math.MinInt64, math.MaxInt32 + 1, -math.MaxInt32 - 2}
	i64 := func() int64 {
		if r.Intn(2) == 0 {
			return ints[r.Intn(len(ints))]
		}
		return r.Int63() - r.Int63()
	}
	pick := func(vs ...string) string { return vs[r.Intn(len(vs))] }
	sum := func() string {
		return pick(strings.Repeat("ab", 32), strings.Repeat("AB", 32), "", "xyz", strings.Repeat("0", 63), strings.Repeat("f", 64))
	}
	nameID := func(v string) uint64 {
		var out [][]byte
		id := f.name(v, &out)
		*recs = append(*recs, out...)
		if r.Intn(10) == 0 { // redefine an id to what it already is, or another
			nid := uint64(r.Intn(len(f.names)))
			nv := pick("done", "failed", "r1", "x.pack", "b1", "")
			*recs = append(*recs, rvName(nid, nv))
			if err := f.readName(rvName(nid, nv)); err != nil {
				panic(err)
			}
			return f.ids[nv]
		}
		return id
	}
	w := recordWriter{b: []byte{tagItem}}
	w.uvarint(nameID(pick("p#s", "p#t", "")))
	w.str(pick("a", "b", "", "k\x00", strings.Repeat("z", 200)))
	w.uvarint(nameID(pick("done", "failed", "removed", "")))
	w.uvarint(nameID(pick("r1", "r2")))
	w.str(pick("", "boom"))
	part := func() {
		w.varint(i64())
		if r.Intn(2) == 0 {
			w.uvarint(1)
			w.uvarint(nameID(pick("0123456789abcdef0123456789abcdef.pack", "notapack", "x.pack", "")))
		} else {
			w.uvarint(0)
			w.str(pick("a.part", "y.pack", ""))
		}
		w.varint(i64())
		w.sum(sum())
		w.varint(i64())
		w.varint(i64())
	}
	if r.Intn(3) > 0 {
		w.uvarint(1)
		w.sum(sum())
		w.uvarint(nameID(pick("b1", "b2", "missing", "")))
	} else {
		w.uvarint(0)
	}
	if r.Intn(2) == 0 {
		w.uvarint(1)
		for range 3 {
			w.varint(i64())
		}
		w.uvarint(uint64(i64()))
		w.uvarint(uint64(i64()))
	} else {
		w.uvarint(0)
	}
	n := r.Intn(4)
	w.uvarint(uint64(n))
	for range n {
		part()
	}
	if r.Intn(2) == 0 {
		w.uvarint(1)
		part()
	} else {
		w.uvarint(0)
	}
	for range 5 {
		w.varint(i64())
	}
	if r.Intn(2) == 0 {
		w.uvarint(1)
		w.varint([]int64{minJSONTime, maxJSONTime, minJSONTime - 1, maxJSONTime + 1, 0, 1764424800}[r.Intn(6)])
		w.uvarint([]uint64{0, 1, 999999999, 1e9}[r.Intn(4)])
		w.varint([]int64{0, 3600, -86399, 86399, 86400, -86400}[r.Intn(6)])
	} else {
		w.uvarint(0)
	}
	*recs = append(*recs, w.b)
}

// Many generated journals, whole and with bytes changed, into stores that
// exist already.
func TestLoadItemGenerated(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	bases := [][]byte{
		[]byte(`{"type":"base","run":"r1","key":"b1","fp":{"input":"","schema":"S1","transform":"T","settings":"X","version":"v1"}}`),
		[]byte(`{"type":"base","run":"r1","key":"b2","fp":{"input":"in","base":"zz","schema":"S2"}}`),
	}
	n := 20000
	if testing.Short() || raceEnabled {
		n = 2000
	}
	fails := 0
	for iter := range n {
		f := newJournalFile()
		recs := append([][]byte(nil), bases...)
		for range 1 + r.Intn(6) {
			rvGen(r, f, &recs)
		}
		if iter%2 == 1 { // change a byte of the last record
			last := append([]byte(nil), recs[len(recs)-1]...)
			last[1+r.Intn(len(last)-1)] = byte(r.Intn(256))
			recs[len(recs)-1] = last
		}
		if d := rvCompare(t, recs); d != "" {
			fails++
			if fails < 3 {
				t.Errorf("journal %d: %s", iter, d)
			}
		}
	}
	if fails > 0 {
		t.Errorf("%d journals of %d differ", fails, n)
	}
}

// A record that fails halfway leaves no store and no item; it does leave
// names and bases in a store that was there.
func TestLoadItemFailedRecordLeavesNames(t *testing.T) {
	st := rvState()
	for _, rec := range append(rvHead("b"), rvItem{status: 1, run: 2, key: "a"}.bytes()) {
		if err := st.load(rec); err != nil {
			t.Fatal(err)
		}
	}
	s := st.items["p.yaml#s"]
	names, bases := len(s.names), len(s.bases)
	for _, rec := range [][]byte{rvName(4, "p.yaml#other"), rvName(5, "brand-new-status"), rvName(6, "brand-new-run")} {
		st.load(rec)
	}
	bad := rvItem{stage: 0, status: 5, run: 6, key: "a", fp: true, base: 3}.bytes()
	bad = append(bad, 0) // a byte too many: fails at done
	if st.load(bad) == nil {
		t.Fatal("bad record taken")
	}
	bad2 := rvItem{stage: 4, status: 5, run: 6, key: "z"}.bytes()
	bad2 = append(bad2, 0)
	if st.load(bad2) == nil {
		t.Fatal("bad record taken")
	}
	if st.items["p.yaml#other"] != nil || st.item("p.yaml#s", "a").Status != "done" || st.lines != 1 {
		t.Fatal("a failed record changed the items")
	}
	if len(s.names) != names || len(s.bases) != bases {
		t.Errorf("a failed record left names %q (had %d) and bases %d (had %d)", s.names, names, len(s.bases), bases)
	}
}

// The store keeps no slice of the record nor of the scratch buffers,
// across blocks, large records and a repack.
func TestLoadItemNoAliasing(t *testing.T) {
	st := rvState()
	for _, rec := range rvHead("b") {
		st.load(rec)
	}
	buf := make([]byte, 0, 2<<20)
	want := map[string]string{}
	for i := range 600 {
		key := strings.Repeat(string(rune('a'+i%4)), []int{1, 300 << 10, 1 << 20}[i%3])
		rec := append(buf[:0], rvItem{status: 1, run: 2, key: key, err: strings.Repeat("e", i)}.bytes()...)
		if err := st.load(rec); err != nil {
			t.Fatal(err)
		}
		want[key] = strings.Repeat("e", i)
		for j := range rec { // the journal reuses its buffer
			rec[j] = 0xff
		}
		for j := range st.scratch {
			st.scratch[j] = 0xee
		}
		for j := range st.scratch2 {
			st.scratch2[j] = 0xdd
		}
	}
	s := st.items["p.yaml#s"]
	t.Logf("blocks %d, waste %d, size %d, items %d", len(s.blocks), s.waste, s.size, s.len())
	if len(s.blocks) > 300 {
		t.Fatal("no repack")
	}
	for k, v := range want {
		e := st.item("p.yaml#s", k)
		if e == nil || e.Key != k || e.Error != v || e.Status != "done" {
			t.Fatalf("key %.10q: %+v", k, e)
		}
	}
}

// keyIs and the clash map: two keys made to share a hash.
func TestLoadItemClash(t *testing.T) {
	s := newItemStore("s")
	s.put(&entry{Key: "a", Status: "done"})
	ha, hb := maphash.String(s.seed, "a"), maphash.String(s.seed, "ab")
	pa, _ := s.at.get(ha)
	s.at.set(hb, pa) // "ab" now clashes with "a"
	s.at.delete(ha)
	s.put(&entry{Key: "ab", Status: "failed"})
	s.put(&entry{Key: "ab", Status: "removed"})
	if s.get("ab").Status != "removed" || s.len() != 2 || s.waste == 0 {
		t.Fatalf("ab %+v, len %d, waste %d", s.get("ab"), s.len(), s.waste)
	}
}
