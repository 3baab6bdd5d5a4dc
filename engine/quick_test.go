package engine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// quickUpToDate finds an item up to date exactly when the slow way
// (fingerprintOf trusting the stat, then reason) does, on journal records
// that differ from an up-to-date one in every way that matters.
func TestQuickUpToDateAgreesWithTheSlowWay(t *testing.T) {
	dir := t.TempDir()
	st, err := openState(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close("finished")
	pack := "0123456789abcdef0123456789abcdef" + packSuffix
	if err := os.WriteFile(filepath.Join(st.parts, pack), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	own := "0123456789abcdef0123456789abcdef-0.part"
	if err := os.WriteFile(filepath.Join(st.parts, own), make([]byte, 50), 0o644); err != nil {
		t.Fatal(err)
	}
	const stage = "/p/pipeline.yaml#users"
	now := fingerprint{Schema: hashString("s"), Transform: "", Settings: hashString("x"), Version: "v1"}
	recorded := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	stat := fileStat{Size: 312, Mtime: recorded.Add(-time.Hour).UnixNano(), Ctime: 1, Ino: 7, Dev: 9}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(n int) bool { return rng.IntN(n) == 0 }
	agreed, quick := 0, 0
	for i := range 3000 {
		key := "data/u" + strconv.Itoa(i) + ".json"
		fp := now
		fp.Input = hashString(key)
		s := stat
		e := &entry{Type: "item", Stage: stage, Key: key, Run: "r1", Status: "done", FP: &fp, Stat: &s,
			Records: 3, OK: 2, Failed: 1, Attempts: 1 + rng.IntN(3), Time: recorded}
		switch rng.IntN(4) {
		case 0:
		case 1:
			e.Parts = []partRef{{Output: 0, File: pack, Offset: int64(rng.IntN(990)), Size: int64(rng.IntN(12)), SHA256: hashString("p")}}
		case 2:
			e.Parts = []partRef{{Output: 0, File: own, Size: int64(49 + rng.IntN(2)), SHA256: hashString("p")}}
		default:
			for k := range 1 + rng.IntN(5) {
				e.Parts = append(e.Parts, partRef{Output: k, File: pack, Offset: 10, Size: 10, SHA256: hashString("p")})
			}
		}
		if pick(4) {
			e.Rejects = &partRef{Output: -1, File: pack, Offset: 900, Size: int64(rng.IntN(200)), SHA256: hashString("r")}
		}
		switch rng.IntN(14) {
		case 0:
			e.Status = []string{"failed", "removed"}[rng.IntN(2)]
		case 1:
			e.FP = nil
		case 2:
			e.Stat = nil
		case 3:
			e.Stat.Ino++
		case 4:
			e.Time = time.Unix(0, stat.Mtime+int64(rng.IntN(4))*1e9)
		case 5:
			e.Time = time.Time{}
		case 6:
			fp.Version = "v0"
		case 7:
			fp.Schema = hashString("other")
		case 8:
			fp.Transform = hashString("t")
		case 9:
			fp.Settings = ""
		case 10:
			if len(e.Parts) > 0 {
				e.Parts[0].File = []string{"../x.pack", "missing.part", "0123456789abcdef0123456789abcdef-9.part"}[rng.IntN(3)]
			}
		case 11:
			e.Time = recorded.In(time.FixedZone("", 3600))
		}
		if err := st.append(e); err != nil {
			t.Fatal(err)
		}
		prev := st.item(stage, key)
		slow := prev != nil && prev.FP != nil && prev.Stat != nil && *prev.Stat == stat && stat.Mtime < prev.Time.UnixNano()-2e9
		if slow {
			f := now
			f.Input = prev.FP.Input
			slow = st.reason(prev, &f) == ""
		}
		res, ok := st.quickUpToDate(stage, key, &stat, &now)
		if ok {
			quick++
			if want := resultOf(prev); !slow || res != want {
				t.Fatalf("record %d %+v: quick says up to date (%+v), the slow way %v (%+v)", i, prev, res, slow, want)
			}
		}
		if slow && !ok && len(prev.allParts()) < 4 {
			t.Fatalf("record %d %+v: up to date, and quick cannot tell", i, prev)
		}
		if ok == slow {
			agreed++
		}
	}
	t.Logf("%d of 3000 agreed; %d found up to date quickly", agreed, quick)
	if quick < 500 {
		t.Errorf("only %d of 3000 records were found up to date quickly", quick)
	}
}

// quickProvenance and quickParts read from a record what its entry says.
func TestQuickProvenanceReadsWhatTheEntrySays(t *testing.T) {
	st, err := openState(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close("finished")
	const stage = "/p/pipeline.yaml#users"
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		key := "data/u" + strconv.Itoa(i) + ".json"
		e := &entry{Type: "item", Stage: stage, Key: key, Run: "r1", Status: "done", Records: 1, Attempts: 1,
			Time: time.Unix(1764424800+int64(i), int64(rng.IntN(1e9)))}
		if rng.IntN(5) > 0 {
			e.FP = &fingerprint{Input: hashString(key), Schema: hashString("s"), Version: "v1"}
		}
		if rng.IntN(5) == 0 {
			e.Time = e.Time.In(time.FixedZone("", 3600*rng.IntN(12)))
		}
		if rng.IntN(9) == 0 {
			e.Time = time.Time{}
		}
		for k := range rng.IntN(4) {
			e.Parts = append(e.Parts, partRef{Output: k, File: "0123456789abcdef0123456789abcdef" + packSuffix, Offset: int64(k), Size: 3, SHA256: hashString(key + strconv.Itoa(k))})
		}
		if rng.IntN(3) == 0 {
			e.Rejects = &partRef{Output: -1, File: "0123456789abcdef0123456789abcdef-rejects.part", Size: 9, SHA256: hashString("r" + key)}
		}
		if err := st.append(e); err != nil {
			t.Fatal(err)
		}
		want := st.item(stage, key)
		var got ItemProvenance
		var parts []partRef
		// quickParts reads what allParts gives of the entry.
		if ps, rejects, ok := st.quickParts(stage, key, true, nil); !ok || !reflect.DeepEqual(ps, want.allParts()) || rejects != (want.Rejects != nil) {
			t.Errorf("record %d: quickParts = %+v, %v, %v; want %+v", i, ps, rejects, ok, want.allParts())
		}
		if !st.quickProvenance(stage, key, true, &got, func(k int, sum string) { parts = append(parts, partRef{Output: k, SHA256: sum}) }) {
			t.Fatalf("record %d: none found", i)
		}
		input := ""
		if want.FP != nil {
			input = want.FP.Input
		}
		var wantParts []partRef
		for _, p := range want.allParts() {
			wantParts = append(wantParts, partRef{Output: p.Output, SHA256: p.SHA256})
		}
		if got.InputSHA256 != input || !got.Time.Equal(want.Time) || got.Time.Location().String() != want.Time.Location().String() ||
			fmt.Sprint(got.Time) != fmt.Sprint(want.Time) || fmt.Sprint(parts) != fmt.Sprint(wantParts) {
			t.Fatalf("record %d: got %s %v %v, want %s %v %v", i, got.InputSHA256, got.Time, parts, input, want.Time, wantParts)
		}
	}
}
