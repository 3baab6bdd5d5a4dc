package pipeline

import (
	"runtime"
	"sync"
	"weak"

	"github.com/zpipe/zpipe/format"
)

// source is what Load keeps of a manifest for later positions: the name
// the user gave it and its decoded YAML, which can locate any node.
type source struct {
	name string
	rec  format.Record
}

// sources maps each loaded *Manifest, held weakly, to its source. It is a
// side table so that Manifest stays a plain value; an entry goes when its
// manifest is collected, so a watch loop that reloads does not leak.
var sources sync.Map // weak.Pointer[Manifest] → source

func keepSource(m *Manifest, name string, rec format.Record) {
	k := weak.Make(m)
	sources.Store(k, source{name, rec})
	runtime.AddCleanup(m, func(k weak.Pointer[Manifest]) { sources.Delete(k) }, k)
}

func sourceOf(m *Manifest) (source, bool) {
	s, ok := sources.Load(weak.Make(m))
	if !ok {
		return source{}, false
	}
	return s.(source), true
}

// Pos returns the line and column in the manifest of the node at path,
// given as object keys and list indexes: Pos("stages", "users", "outputs",
// "1"). A path that is absent locates its nearest present parent. It is
// 0, 0 for a Manifest that Load did not return.
func (m *Manifest) Pos(path ...string) (line, col int) {
	src, ok := sourceOf(m)
	if !ok {
		return 0, 0
	}
	return src.rec.Locate(path)
}

// DisplayName returns the manifest's file as the user named it to Load.
func (m *Manifest) DisplayName() string {
	if src, ok := sourceOf(m); ok {
		return src.name
	}
	return m.File
}
