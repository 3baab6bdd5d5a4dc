package schema

import (
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
)

// prune parses a CUE file and keeps only what evaluating the definition
// def needs: the package clause, the imports, every declaration that is not
// a named field or let (an embedding or comprehension shapes the whole
// file), and the fields and lets that def refers to by name, followed
// transitively. CUE evaluates a whole file it compiles, so a costly
// definition that the stage does not use would otherwise be evaluated
// anyway; now it is never even built.
//
// It also returns the definitions the whole file declares.
func prune(filename string, src []byte, def string) (*ast.File, []string, error) {
	f, err := parser.ParseFile(filename, src, parser.ParseComments)
	if err != nil {
		return nil, nil, err
	}
	defs := definitions(f)
	if def == "" {
		return f, defs, nil
	}
	named := map[string][]ast.Decl{}
	for _, d := range f.Decls {
		for _, name := range declNames(d) {
			named[name] = append(named[name], d)
		}
	}
	need := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if need[name] {
			return
		}
		need[name] = true
		for _, d := range named[name] {
			ast.Walk(d, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && len(named[id.Name]) > 0 {
					visit(id.Name)
				}
				return true
			}, nil)
		}
	}
	visit("#" + def)
	for _, d := range f.Decls {
		if _, imp := d.(*ast.ImportDecl); !imp && len(declNames(d)) == 0 {
			// What the file embeds may refer to any field.
			ast.Walk(d, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && len(named[id.Name]) > 0 {
					visit(id.Name)
				}
				return true
			}, nil)
		}
	}
	var kept []ast.Decl
	used := map[string]bool{}
	for _, d := range f.Decls {
		if names := declNames(d); len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return need[n] }) {
			kept = append(kept, d)
			ast.Walk(d, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok {
					used[id.Name] = true
				}
				return true
			}, nil)
		}
	}
	// CUE refuses an import that nothing uses, so drop those that only
	// the pruned declarations used.
	f.Decls = kept[:0]
	for _, d := range kept {
		if imp, ok := d.(*ast.ImportDecl); ok {
			specs := imp.Specs[:0]
			for _, spec := range imp.Specs {
				if used[importName(spec)] {
					specs = append(specs, spec)
				}
			}
			if imp.Specs = specs; len(specs) == 0 {
				continue
			}
		}
		f.Decls = append(f.Decls, d)
	}
	return f, defs, nil
}

// importName is the name an import binds in its file: its alias, or the
// last element of its path, before any ":qualifier".
func importName(spec *ast.ImportSpec) string {
	if spec.Name != nil {
		return spec.Name.Name
	}
	path, _ := strconv.Unquote(spec.Path.Value)
	if i := strings.LastIndex(path, ":"); i >= 0 {
		return path[i+1:]
	}
	path, _, _ = strings.Cut(path, "@") // a major version: foo.com/bar@v0
	return path[strings.LastIndex(path, "/")+1:]
}

// declNames are the names a top-level declaration binds: a field's label
// and its alias (L=#Limits: ...), or a let's name; none for an import, an
// embedding or a comprehension.
func declNames(d ast.Decl) []string {
	switch d := d.(type) {
	case *ast.Field:
		label := d.Label
		var names []string
		if a, ok := label.(*ast.Alias); ok {
			names = append(names, a.Ident.Name)
			if l, ok := a.Expr.(ast.Label); ok {
				label = l
			}
		}
		if name, _, err := ast.LabelName(label); err == nil {
			names = append(names, name)
		}
		return names
	case *ast.LetClause:
		return []string{d.Ident.Name}
	}
	return nil
}

// definitions lists the definitions a CUE file declares, without
// evaluating it.
func definitions(f *ast.File) []string {
	var defs []string
	seen := map[string]bool{}
	for _, d := range f.Decls {
		for _, name := range declNames(d) {
			if len(name) > 1 && name[0] == '#' && !seen[name] {
				seen[name] = true
				defs = append(defs, name)
			}
		}
	}
	return defs
}
