package schema

import (
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// CUE's translation of JSON Schema (v0.17) gets a few keywords wrong; the
// JSON-Schema-Test-Suite shows which. fixTranslation rewrites a document,
// before CUE reads it, into JSON Schema that says the same and that CUE
// translates right, so that zpipe's verdicts are JSON Schema's:
//
//   - A boolean subschema in allOf, anyOf, oneOf, not, if, then, else or
//     contains: CUE drops false from allOf and reads it as an error
//     elsewhere. true becomes {} and false {"not": {}}, which mean the same.
//   - A tuple (items as a list before 2020-12, prefixItems from it): CUE
//     requires every position, where JSON Schema allows fewer items. It
//     becomes a choice of one tuple per length, each closed but the
//     longest: {"anyOf": [{"maxItems": 0}, {"maxItems": 1, "items": [A]},
//     ..., {"items": [A, B, ...], "additionalItems": X}]}.
//
//   - format, from 2019-09 on, where it is only an annotation; CUE's
//     translation checks some formats whatever the draft.
//   - Draft 4's exclusiveMaximum and exclusiveMinimum when false (their
//     default), which CUE reads as true.
//   - Keywords the translation cannot express (nativeKeywords) are taken
//     out: CUE checks what is left, which is looser, and zpipe checks the
//     whole schema natively too (jsonschema_native.go).
//
// Subschemas are found by keyword, so that data under const, enum or
// default, and property names that happen to be keywords, stay as they are.

// maxTupleFix bounds the tuples rewritten: the rewrite repeats the
// positions' schemas once per length.
const maxTupleFix = 16

// fixTranslation rewrites x in place and returns the keywords it took out
// for the native check, by position.
func fixTranslation(x ast.Expr, src []byte) leftOut {
	f := &translationFix{draft2020: isDraft2020(src), draft4: !integralDraft(src), formatAnnotation: formatIsAnnotation(src), keepTuples: refersIntoItems(x),
		conditionals: hasConditionals(src)}
	f.schema(x, 0, false, "")
	f.judgeInvertedRefs()
	return f.left
}

// refAt is a $ref of the document: the JSON pointer of the schema object
// that holds it, and its value.
type refAt struct {
	from, to string
	fd       *ast.Field
	inverted bool
}

// judgeInvertedRefs notes the first $ref under not, if, oneOf or contains
// that may lead to a subschema that lost a keyword to the native check:
// one that leaves the document, names an anchor, or points (#/...) at a
// subschema that holds such a place or such a $ref, transitively. A
// document with an $id below its root is not followed: its pointers would
// be relative to other bases.
func (f *translationFix) judgeInvertedRefs() {
	under := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	for _, r := range f.refs {
		if !r.inverted || f.left.invertedRef != nil {
			continue
		}
		seen := map[string]bool{}
		var reaches func(to string) bool
		reaches = func(to string) bool {
			target, local := strings.CutPrefix(to, "#")
			if !local || f.nestedID || target != "" && !strings.HasPrefix(target, "/") || strings.Contains(target, "%") {
				return true
			}
			if seen[target] {
				return false
			}
			seen[target] = true
			if slices.ContainsFunc(f.removedAt, func(p string) bool { return under(p, target) }) {
				return true
			}
			for _, next := range f.refs {
				if under(next.from, target) && reaches(next.to) {
					return true
				}
			}
			return false
		}
		if reaches(r.to) {
			f.left.invertedRef = r.fd
		}
	}
}

// keepTuples is set when a $ref points into a tuple ("#/items/0"), which
// the rewrite would move.
type translationFix struct {
	draft2020, draft4, keepTuples bool
	// removedAt are the JSON pointers of the schema objects that lost a
	// keyword; refs every $ref; nestedID whether an $id below the root
	// changes the base (see judgeInvertedRefs).
	removedAt []string
	refs      []refAt
	nestedID  bool
	// formatAnnotation: format asserts nothing (2019-09 on), where CUE
	// checks some formats.
	formatAnnotation bool
	// conditionals: if, then and else are keywords (draft 7 on).
	conditionals bool
	left         leftOut
}

// leftOut is what the rewrite took out of CUE's sight for the native
// check. Taking a keyword out loosens its subschema, and so the schema,
// only where the subschema counts for the value (allOf, anyOf, properties,
// items...): under not, if, oneOf or contains a looser subschema can make
// the whole stricter. Then CUE's verdict on the rest means nothing, and
// the native check decides alone; whole says why.
//
// A $ref under not, if, oneOf or contains can lead anywhere, where a
// keyword may have been taken out: invertedRef remembers the first, and
// settle makes the native check decide alone when both meet.
type leftOut struct {
	fields      []*ast.Field
	whole       string
	wholeAt     token.Pos
	invertedRef *ast.Field
}

func (l *leftOut) add(m leftOut) {
	l.fields = append(l.fields, m.fields...)
	if l.whole == "" {
		l.whole, l.wholeAt = m.whole, m.wholeAt
	}
	if l.invertedRef == nil {
		l.invertedRef = m.invertedRef
	}
}

// settle decides, once every document is read, whether a $ref under not,
// if, oneOf or contains may reach a keyword that was taken out.
func (l *leftOut) settle() {
	if l.whole == "" && l.invertedRef != nil && len(l.fields) > 0 {
		l.whole = "a $ref under not, if, oneOf or contains, which may lead to a keyword left to the native check"
		l.wholeAt = l.invertedRef.Pos()
	}
}

// inverting are the keywords whose subschemas do not simply constrain the
// value (see leftOut).
var inverting = map[string]bool{"not": true, "if": true, "oneOf": true, "contains": true}

// nativeKeywords are the keywords whose translation by CUE (v0.17) gives
// wrong verdicts in the JSON-Schema-Test-Suite: names and dynamic scopes
// that CUE has no form for, and dependent subschemas, which it applies as
// if they were part of the enclosing struct's closedness.
var nativeKeywords = map[string]bool{"propertyNames": true, "unevaluatedProperties": true, "unevaluatedItems": true,
	"$dynamicRef": true, "$dynamicAnchor": true, "$recursiveRef": true, "$recursiveAnchor": true, "dependentSchemas": true}

// leftToNative reports whether CUE must not see the keyword: one of
// nativeKeywords, or draft 7's dependencies when one of them is a schema.
func leftToNative(key string, v ast.Expr) bool {
	if key != "dependencies" {
		return nativeKeywords[key]
	}
	deps, ok := v.(*ast.StructLit)
	if !ok {
		return false
	}
	for _, e := range deps.Elts {
		if pf, ok := e.(*ast.Field); ok {
			if _, list := pf.Value.(*ast.ListLit); !list {
				return true
			}
		}
	}
	return false
}

// refersIntoItems reports whether a $ref in the document points through
// items, prefixItems or additionalItems.
func refersIntoItems(x ast.Expr) bool {
	found := false
	ast.Walk(x, func(n ast.Node) bool {
		fd, ok := n.(*ast.Field)
		if !ok || found {
			return !found
		}
		if name, _, err := ast.LabelName(fd.Label); err == nil && name == "$ref" {
			lit, ok := fd.Value.(*ast.BasicLit)
			found = ok && (strings.Contains(lit.Value, "/items") || strings.Contains(lit.Value, "Items"))
		}
		return true
	}, nil)
	return found
}

// Keywords whose value is a subschema, a list of them, or a map of them.
var (
	oneSubschema = map[string]bool{"additionalItems": true, "additionalProperties": true, "contains": true, "if": true, "then": true,
		"else": true, "not": true, "propertyNames": true, "items": true, "unevaluatedItems": true, "unevaluatedProperties": true, "contentSchema": true}
	listOfSubschemas = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "prefixItems": true, "items": true}
	mapOfSubschemas  = map[string]bool{"properties": true, "patternProperties": true, "definitions": true, "$defs": true, "dependentSchemas": true, "dependencies": true}
	// boolFixed are the keywords whose boolean subschemas CUE misreads.
	boolFixed = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "not": true, "if": true, "then": true, "else": true, "contains": true}
)

func (f *translationFix) schema(x ast.Expr, depth int, inverted bool, ptr string) {
	s, ok := x.(*ast.StructLit)
	if !ok || depth > 200 {
		return
	}
	if f.conditionals {
		elseFalse(s)
	}
	s.Elts = slices.DeleteFunc(s.Elts, func(d ast.Decl) bool {
		fd, ok := d.(*ast.Field)
		if !ok {
			return false
		}
		key, _, err := ast.LabelName(fd.Label)
		lit, _ := fd.Value.(*ast.BasicLit)
		if err == nil && key == "format" && lit != nil && f.formatAnnotation {
			return true
		}
		if err == nil && f.draft4 && (key == "exclusiveMaximum" || key == "exclusiveMinimum") && lit != nil && lit.Kind == token.FALSE {
			return true // the default, which CUE reads as true
		}
		if err == nil && leftToNative(key, fd.Value) {
			f.left.fields = append(f.left.fields, fd)
			f.removedAt = append(f.removedAt, ptr)
			if inverted && f.left.whole == "" {
				f.left.whole = key + " under not, if, oneOf or contains, where leaving it to the native check could make CUE's check stricter than the schema"
				f.left.wholeAt = fd.Pos()
			}
			return true
		}
		return false
	})
	for _, d := range s.Elts {
		fd, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		key, _, err := ast.LabelName(fd.Label)
		if err != nil {
			continue
		}
		inv := inverted || inverting[key]
		if l, ok := fd.Value.(*ast.ListLit); ok && key == "enum" && f.draft4 {
			l.Elts = withNumberForms(l.Elts)
		}
		if lit, ok := fd.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			v, _ := strconv.Unquote(lit.Value)
			switch {
			case key == "$ref":
				f.refs = append(f.refs, refAt{from: ptr, to: v, fd: fd, inverted: inverted})
			case (key == "$id" || key == "id" && f.draft4) && ptr != "" && !strings.HasPrefix(v, "#"):
				f.nestedID = true
			}
		}
		if key == "$ref" && f.left.whole == "" && refersToAnchor(fd.Value) {
			f.left.whole = "a $ref to an anchor, " + fd.Value.(*ast.BasicLit).Value + ", which CUE's translation resolves wrongly in some schemas"
			f.left.wholeAt = fd.Pos()
		}
		switch v := fd.Value.(type) {
		case *ast.StructLit:
			if mapOfSubschemas[key] {
				for _, e := range v.Elts {
					if pf, ok := e.(*ast.Field); ok {
						name, _, _ := ast.LabelName(pf.Label)
						f.schema(pf.Value, depth+1, inv, ptr+"/"+pointerEscape(key)+"/"+pointerEscape(name))
					}
				}
			} else if oneSubschema[key] {
				f.schema(v, depth+1, inv, ptr+"/"+pointerEscape(key))
			}
		case *ast.ListLit:
			if listOfSubschemas[key] {
				for i, e := range v.Elts {
					if boolFixed[key] {
						v.Elts[i] = schemaForBool(e)
					}
					f.schema(v.Elts[i], depth+1, inv, ptr+"/"+pointerEscape(key)+"/"+strconv.Itoa(i))
				}
			}
		default:
			if boolFixed[key] {
				fd.Value = schemaForBool(fd.Value)
			}
		}
	}
	f.tuple(s)
}

// withNumberForms adds to a draft 4 enum each element again with its
// integral numbers written the other way (0 as 0.0, 1.0 as 1): JSON
// Schema compares numbers by value, CUE int and float by kind, and draft 4
// does not read 1.0 as the integer 1 (so the data keeps its form). An
// element with more than three such numbers is left as it is.
func withNumberForms(elts []ast.Expr) []ast.Expr {
	out := slices.Clone(elts)
	for _, e := range elts {
		var n int
		ast.Walk(e, func(x ast.Node) bool {
			if lit, ok := x.(*ast.BasicLit); ok && otherNumberForm(lit) != "" {
				n++
			}
			return true
		}, nil)
		if n == 0 || n > 3 {
			continue
		}
		for mask := 1; mask < 1<<n; mask++ {
			c := copyJSON(e)
			i := 0
			ast.Walk(c, func(x ast.Node) bool {
				if lit, ok := x.(*ast.BasicLit); ok {
					if other := otherNumberForm(lit); other != "" {
						if mask&(1<<i) != 0 {
							lit.Value = other
							lit.Kind = map[token.Token]token.Token{token.INT: token.FLOAT, token.FLOAT: token.INT}[lit.Kind]
						}
						i++
					}
				}
				return true
			}, nil)
			out = append(out, c)
		}
	}
	return out
}

// otherNumberForm is an integral number literal written the other way:
// 2 as 2.0, 2.0 (or 2.00) as 2; "" for anything else.
func otherNumberForm(lit *ast.BasicLit) string {
	switch lit.Kind {
	case token.INT:
		if _, err := strconv.ParseInt(lit.Value, 10, 64); err == nil {
			return lit.Value + ".0"
		}
	case token.FLOAT:
		if s, ok := integral(lit.Value); ok {
			return s
		}
	}
	return ""
}

// pointerEscape escapes a JSON pointer token.
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// refersToAnchor reports whether x, a $ref's value, names a plain-name
// fragment ("#foo", "other.json#foo"), not a JSON pointer.
func refersToAnchor(x ast.Expr) bool {
	lit, ok := x.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return false
	}
	ref, err := strconv.Unquote(lit.Value)
	if err != nil {
		return false
	}
	_, frag, ok := strings.Cut(ref, "#")
	return ok && frag != "" && !strings.HasPrefix(frag, "/")
}

// schemaForBool is {} for true and {"not": {}} for false; other values
// stay as they are.
func schemaForBool(x ast.Expr) ast.Expr {
	b, ok := x.(*ast.BasicLit)
	if !ok || b.Kind != token.TRUE && b.Kind != token.FALSE {
		return x
	}
	s := &ast.StructLit{Lbrace: b.ValuePos, Rbrace: b.ValuePos}
	if b.Kind == token.FALSE {
		s.Elts = []ast.Decl{&ast.Field{Label: ast.NewString("not"), Value: &ast.StructLit{Lbrace: b.ValuePos, Rbrace: b.ValuePos}}}
	}
	return s
}

// tuple rewrites s's tuple as one tuple per length it may have.
func (f *translationFix) tuple(s *ast.StructLit) {
	key, restKey := "items", "additionalItems"
	if f.draft2020 {
		key, restKey = "prefixItems", "items"
	}
	tf := field(s, key)
	if tf == nil || f.keepTuples || field(s, "unevaluatedItems") != nil {
		return
	}
	list, ok := tf.Value.(*ast.ListLit)
	if !ok || len(list.Elts) == 0 || len(list.Elts) > maxTupleFix {
		return
	}
	rest := field(s, restKey)
	var ladder []ast.Expr
	for n := 0; n < len(list.Elts); n++ {
		branch := &ast.StructLit{Elts: []ast.Decl{&ast.Field{Label: ast.NewString("maxItems"), Value: ast.NewLit(token.INT, strconv.Itoa(n))}}}
		if n > 0 {
			branch.Elts = append(branch.Elts, &ast.Field{Label: ast.NewString(key), Value: copyJSON(&ast.ListLit{Elts: list.Elts[:n]})})
		}
		ladder = append(ladder, branch)
	}
	whole := &ast.StructLit{Elts: []ast.Decl{tf}}
	if rest != nil {
		whole.Elts = append(whole.Elts, rest)
	}
	ladder = append(ladder, whole)
	s.Elts = deleteFields(s.Elts, tf, rest)
	choice := &ast.StructLit{Elts: []ast.Decl{&ast.Field{Label: ast.NewString("anyOf"), Value: &ast.ListLit{Elts: ladder}}}}
	if all := field(s, "allOf"); all != nil {
		if l, ok := all.Value.(*ast.ListLit); ok {
			l.Elts = append(l.Elts, choice)
			return
		}
	}
	s.Elts = append(s.Elts, &ast.Field{Label: ast.NewString("allOf"), Value: &ast.ListLit{Elts: []ast.Expr{choice}}})
}

func deleteFields(decls []ast.Decl, fields ...*ast.Field) []ast.Decl {
	out := decls[:0:0]
	for _, d := range decls {
		keep := true
		for _, f := range fields {
			keep = keep && d != ast.Decl(f)
		}
		if keep {
			out = append(out, d)
		}
	}
	return out
}

// elseFalse rewrites {"if": C, "then": T, "else": false}, which holds
// where both C and T do, as {"if": C, "then": T, "allOf": [C]}: CUE v0.17
// fails a matchIf whose else never holds inside a matchN even where C
// holds, so uxp's plug-in manifests were all refused.
func elseFalse(s *ast.StructLit) {
	var cond, els, allOf *ast.Field
	for _, d := range s.Elts {
		fd, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		switch key, _, _ := ast.LabelName(fd.Label); key {
		case "if":
			cond = fd
		case "else":
			els = fd
		case "allOf":
			allOf = fd
		}
	}
	lit, isLit := stripParens(valueOf(els)).(*ast.BasicLit)
	if cond == nil || !isLit || lit.Kind != token.FALSE {
		return
	}
	list, isList := valueOf(allOf).(*ast.ListLit)
	if allOf != nil && !isList {
		return
	}
	s.Elts = deleteFields(s.Elts, els)
	if allOf == nil {
		list = &ast.ListLit{Lbrack: lit.ValuePos, Rbrack: lit.ValuePos}
		s.Elts = append(s.Elts, &ast.Field{Label: ast.NewString("allOf"), Value: list})
	}
	list.Elts = append(list.Elts, copyJSON(cond.Value))
}

// valueOf is a field's value, nil for no field.
func valueOf(fd *ast.Field) ast.Expr {
	if fd == nil {
		return nil
	}
	return fd.Value
}

// copyJSON copies the CUE form of a JSON value, positions included, so
// that no node appears twice in a tree.
func copyJSON(x ast.Expr) ast.Expr {
	switch x := x.(type) {
	case *ast.StructLit:
		c := *x
		c.Elts = make([]ast.Decl, len(x.Elts))
		for i, d := range x.Elts {
			if fd, ok := d.(*ast.Field); ok {
				cf := *fd
				cf.Value = copyJSON(fd.Value)
				c.Elts[i] = &cf
			} else {
				c.Elts[i] = d
			}
		}
		return &c
	case *ast.ListLit:
		c := *x
		c.Elts = make([]ast.Expr, len(x.Elts))
		for i, e := range x.Elts {
			c.Elts[i] = copyJSON(e)
		}
		return &c
	case *ast.BasicLit:
		c := *x
		return &c
	case *ast.UnaryExpr:
		c := *x
		c.X = copyJSON(x.X)
		return &c
	}
	return x
}
