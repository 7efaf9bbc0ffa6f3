package template

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// The guards in this file keep a template from crashing the process. gonja
// walks values and macro calls recursively with no depth limit, and a Go
// stack overflow cannot be recovered; Python stops the same templates with
// a RecursionError or a SecurityError. So, as transformers' sandbox does,
// values cannot be mutated except for namespace attributes, a namespace
// cannot be made to contain itself, and macro recursion is bounded.

// maxMacroDepth bounds macro recursion, where Python's recursion limit stops
// Jinja2 after a few hundred nested calls.
const maxMacroDepth = 200

// namespace is Jinja's namespace(): the one object {% set ns.attr = … %} may
// change. Its own type prints as Python's does, as an opaque object, which
// also keeps gonja from printing one that contains itself.
type namespace map[string]any

func (namespace) String() string { return "<Namespace>" }

func newNamespace(params *exec.VarArgs) (namespace, error) {
	ns := namespace{}
	if len(params.Args) > 1 {
		return nil, fmt.Errorf("namespace expected at most 1 positional argument, got %d", len(params.Args))
	}
	if len(params.Args) == 1 {
		arg := params.Args[0]
		if !arg.IsDict() {
			return nil, fmt.Errorf("namespace positional argument must be a mapping, got %s", arg.String())
		}
		for _, k := range arg.Keys() {
			v, _ := arg.GetItem(k.Interface())
			ns[k.String()] = v.Interface()
		}
	}
	for k, v := range params.KwArgs {
		ns[k] = v.Interface()
	}
	return ns, nil
}

// guardedControlStructures is gonja's statements with set and macro
// guarded, and transformers' generation block added.
func guardedControlStructures() *exec.ControlStructureSet {
	set := exec.NewControlStructureSet(map[string]parser.ControlStructureParser{}).Update(builtins.ControlStructures)
	setParser, _ := builtins.ControlStructures.Get("set")
	macroParser, _ := builtins.ControlStructures.Get("macro")
	if setParser == nil || macroParser == nil {
		panic("gonja has no set or macro statement") // a broken dependency, not bad input
	}
	must(set.Replace("set", guardSet(setParser)))
	must(set.Replace("macro", guardMacro(macroParser)))
	must(set.Register("generation", generationParser))
	return set
}

func must(err error) {
	if err != nil {
		panic(err) // gonja's registries refused a replacement: a broken dependency
	}
}

// guardedSet is {% set %}. As in Jinja2, a dotted target must be a
// namespace, and a subscript target is not allowed at all; the value
// assigned must not make the namespace reach itself.
type guardedSet struct {
	exec.ControlStructure
	namespaceVar string // the variable before the dot, for ns.attr targets
}

func guardSet(inner parser.ControlStructureParser) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		g := &guardedSet{}
		if name := args.Current(tokens.Name); name != nil {
			switch {
			case args.Peek(tokens.Dot) != nil:
				g.namespaceVar = name.Val
			case args.Peek(tokens.LeftBracket) != nil:
				return nil, args.Error("cannot assign to a subscript: only names and namespace attributes", nil)
			}
		}
		cs, err := inner(p, args)
		if err != nil {
			return nil, err
		}
		ecs, ok := cs.(exec.ControlStructure)
		if !ok {
			return nil, fmt.Errorf("gonja's set statement cannot execute")
		}
		g.ControlStructure = ecs
		return g, nil
	}
}

func (g *guardedSet) Execute(r *exec.Renderer, block *nodes.ControlStructureBlock) error {
	if g.namespaceVar == "" {
		return g.ControlStructure.Execute(r, block)
	}
	target, _ := r.Environment.Context.Get(g.namespaceVar)
	ns, ok := target.(namespace)
	if !ok {
		return fmt.Errorf("cannot assign attribute on non-namespace object %q", g.namespaceVar)
	}
	if err := g.ControlStructure.Execute(r, block); err != nil {
		return err
	}
	for k, v := range ns {
		if reaches(reflect.ValueOf(v), reflect.ValueOf(ns).UnsafePointer(), 0) {
			delete(ns, k)
			return fmt.Errorf("cannot make namespace %q contain itself", g.namespaceVar)
		}
	}
	return nil
}

// reaches reports whether v holds the map at target, looking through
// lists, maps and gonja values down to maxJSONDepth.
func reaches(v reflect.Value, target unsafe.Pointer, depth int) bool {
	v = deref(v)
	if !v.IsValid() || depth > maxJSONDepth {
		return false // nesting that deep is the namespace's own, not a cycle through it
	}
	switch v.Kind() {
	case reflect.Map:
		if v.UnsafePointer() == target {
			return true
		}
		for it := v.MapRange(); it.Next(); {
			if reaches(it.Value(), target, depth+1) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if reaches(v.Index(i), target, depth+1) {
				return true
			}
		}
	case reflect.Pointer:
		if v.Type() == dictType {
			for _, p := range v.Interface().(*exec.Dict).Pairs {
				if reaches(reflect.ValueOf(p.Value), target, depth+1) {
					return true
				}
			}
		}
	}
	return false
}

// guardedMacro is {% macro %}, whose calls fail past maxMacroDepth nested
// calls instead of overflowing the stack.
type guardedMacro struct {
	*controlStructures.MacroControlStructure
}

func guardMacro(inner parser.ControlStructureParser) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		cs, err := inner(p, args)
		if err != nil {
			return nil, err
		}
		m, ok := cs.(*controlStructures.MacroControlStructure)
		if !ok {
			return nil, fmt.Errorf("gonja's macro statement is not the one this package guards")
		}
		return &guardedMacro{m}, nil
	}
}

func (g *guardedMacro) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	macro, err := exec.MacroNodeToFunc(g.Macro, r)
	if err != nil {
		return fmt.Errorf("macro %s: %w", g.Name, err)
	}
	depth := 0
	r.Environment.Context.Set(g.Name, exec.Macro(func(params *exec.VarArgs) *exec.Value {
		if depth >= maxMacroDepth {
			return exec.AsValue(errors.New("macro recursion deeper than " + fmt.Sprint(maxMacroDepth)))
		}
		depth++
		defer func() { depth-- }()
		return macro(params)
	}))
	return nil
}

// readOnlyMethods drops the list and dict methods that change their object
// (append, update, pop, …), which transformers' ImmutableSandboxedEnvironment
// refuses too; only namespace attributes can change.
func readOnlyMethods() (*exec.MethodSet[[]any], *exec.MethodSet[map[string]any]) {
	list := map[string]exec.Method[[]any]{}
	for _, name := range []string{"copy", "count", "index"} {
		if f, ok := builtins.Methods.List.Get(name); ok {
			list[name] = f
		}
	}
	dict := map[string]exec.Method[map[string]any]{}
	for _, name := range []string{"copy", "get", "items", "keys", "values"} {
		if f, ok := builtins.Methods.Dict.Get(name); ok {
			dict[name] = f
		}
	}
	return exec.NewMethodSet(list), exec.NewMethodSet(dict)
}

// checkTagsASCII refuses a template with a non-ASCII character inside a
// {{ … }} or {% … %} tag but outside a string literal: gonja's lexer mis-steps
// backwards over such characters after a number and can loop forever. Real
// chat templates put non-ASCII text only in string literals and in the text
// between tags, which this allows (Jinja2 would also accept non-ASCII
// identifiers; no chat template uses them). An unclosed tag is left for
// gonja to report.
func checkTagsASCII(src string) error {
	line := 1
	for i := 0; i+1 < len(src); i++ {
		if src[i] == '\n' {
			line++
		}
		if src[i] != '{' {
			continue
		}
		var end string
		switch src[i+1] {
		case '{':
			end = "}}"
		case '%':
			end = "%}"
		case '#':
			end = "#}" // a comment may hold anything
		default:
			continue
		}
		n, err := tagLength(src[i:], end)
		if err != nil {
			return fmt.Errorf("line %d: %w", line+strings.Count(src[i:i+n], "\n"), err)
		}
		if end == "%}" && isRawTag(src[i:i+n]) {
			n += strings.Index(src[i+n:], "endraw") + 1 // raw text may hold anything too
		}
		line += strings.Count(src[i:i+n], "\n")
		i += n - 1
	}
	return nil
}

// tagLength is the length of the tag at the start of s, up to its end
// delimiter outside string literals (all of s when unclosed). Inside a
// {{ }} or {% %} tag, a non-ASCII character outside a string is an error.
func tagLength(s, end string) (int, error) {
	var quote byte
	for i := 2; i < len(s); i++ {
		c := s[i]
		switch {
		case end == "#}":
			if strings.HasPrefix(s[i:], end) {
				return i + len(end), nil
			}
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c >= utf8.RuneSelf:
			return i, errors.New("non-ASCII character outside a string literal in a tag")
		case strings.HasPrefix(s[i:], end):
			return i + len(end), nil
		}
	}
	return len(s), nil
}

// isRawTag reports whether tag is {% raw %}, with any whitespace control.
func isRawTag(tag string) bool {
	if len(tag) < 4 {
		return false
	}
	return strings.Trim(tag[2:len(tag)-2], "-+ \t\r\n") == "raw"
}
