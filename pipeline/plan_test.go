package pipeline

import (
	"strings"
	"testing"
)

// Only keeps the named stages and what they need, in order, as make does
// with a target.
func TestPlanOnly(t *testing.T) {
	m := &Manifest{File: "p.yaml", Dir: "/p", Stages: []*Stage{
		{Name: "raw"}, {Name: "users", Needs: []string{"raw"}}, {Name: "report", Needs: []string{"users"}}, {Name: "other"},
	}}
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		only []string
		want string
		err  string
	}{
		{[]string{"report"}, "raw users report", ""},
		{[]string{"users", "other"}, "raw users other", ""},
		{[]string{"raw"}, "raw", ""},
		{[]string{"nope"}, "", `p.yaml has no stage "nope" (stages: raw, users, report, other)`},
	} {
		got, err := p.Only(tc.only)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Only(%v): %v, want %s", tc.only, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range got.Stages {
			names = append(names, s.Name)
		}
		if strings.Join(names, " ") != tc.want {
			t.Errorf("Only(%v) = %v, want %s", tc.only, names, tc.want)
		}
	}
}
