package schema

import (
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
)

func TestPrune(t *testing.T) {
	tests := []struct {
		name, src, def string
		ok             []string // what a valid record checks against
	}{
		{"an unused costly definition is dropped", `import "list"
#U: {a: int}
#Big: {b: list.Range(0, 50000000, 1)}
`, "U", nil},
		{"a label alias is followed", `L=#Limits: {max: 5}
#U: {a: int & <=L.max}
`, "U", nil},
		{"a let is followed", `let max = 5
#U: {a: int & <=max}
`, "U", nil},
		{"definitions refer to each other, recursively", `#Node: {a: int, next?: #Node}
#U: #Node
`, "U", nil},
		{"an import used only by a dropped definition is dropped too", `import "strings"
#U: {a: int}
#V: {s: strings.ToUpper("x")}
`, "U", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile("s.cue", []byte(tt.src), tt.def)
			if err != nil {
				t.Fatal(err)
			}
			if _, vs := s.Validator().Check(mustJSON(t, `{"a": 1}`), false); vs != nil {
				t.Errorf("valid record rejected: %v", vs)
			}
			if _, vs := s.Validator().Check(mustJSON(t, `{"a": "x"}`), false); vs == nil {
				t.Error("invalid record accepted")
			}
		})
	}
	if _, err := Compile("s.cue", []byte("#A: {}\nL=#B: {}\n"), "C"); err == nil || !strings.HasSuffix(err.Error(), "definition #C does not exist (defined: #A, #B)") {
		t.Errorf("missing definition: %v", err)
	}
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	v, err := format.ParseJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
