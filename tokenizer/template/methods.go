package template

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
)

// pythonStrMethods are the methods of Python's str; gonja implements most of
// them, and these are the ones a template may call on a string.
var pythonStrMethods = []string{
	"capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format",
	"format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier",
	"islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower",
	"lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust",
	"rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title",
	"upper", "zfill",
}

// strMethods is gonja's string methods with strip, lstrip, rstrip, split and
// rsplit replaced: gonja's take a single space as their default argument,
// where Python's take None, meaning any whitespace (and gonja fails on a
// call without arguments, such as content.strip()).
func strMethods() *exec.MethodSet[string] {
	m := map[string]exec.Method[string]{}
	for _, name := range pythonStrMethods {
		if f, ok := builtins.Methods.Str.Get(name); ok {
			m[name] = f
		}
	}
	m["strip"] = stripMethod(true, true)
	m["lstrip"] = stripMethod(true, false)
	m["rstrip"] = stripMethod(false, true)
	m["split"] = splitMethod(false)
	m["rsplit"] = splitMethod(true)
	return exec.NewMethodSet(m)
}

// pyIsSpace is Python's str.isspace for one character, which also counts
// the separators U+001C to U+001F that Go's unicode.IsSpace does not.
func pyIsSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// args reads a Python method's optional arguments by position or keyword;
// a missing one is nil, like an explicit None.
func args(name string, params *exec.VarArgs, names ...string) ([]*exec.Value, error) {
	if len(params.Args) > len(names) {
		return nil, fmt.Errorf("%s takes at most %d arguments (%d given)", name, len(names), len(params.Args))
	}
	out := make([]*exec.Value, len(names))
	copy(out, params.Args)
	for k, v := range params.KwArgs {
		i := indexOf(names, k)
		if i < 0 {
			return nil, fmt.Errorf("%s got an unexpected keyword argument %q", name, k)
		}
		out[i] = v
	}
	for i, v := range out {
		if v != nil && v.IsNil() {
			out[i] = nil
		}
	}
	return out, nil
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func stripMethod(left, right bool) exec.Method[string] {
	return func(s string, _ *exec.Value, params *exec.VarArgs) (any, error) {
		a, err := args("strip", params, "chars")
		if err != nil {
			return nil, err
		}
		cut := pyIsSpace
		if a[0] != nil {
			if !a[0].IsString() {
				return nil, fmt.Errorf("strip arg must be None or str")
			}
			chars := a[0].String()
			cut = func(r rune) bool { return strings.ContainsRune(chars, r) }
		}
		if left {
			s = strings.TrimLeftFunc(s, cut)
		}
		if right {
			s = strings.TrimRightFunc(s, cut)
		}
		return s, nil
	}
}

// splitMethod is str.split or, fromRight, str.rsplit: by a separator, or by
// runs of whitespace (dropping empty strings) when the separator is None.
func splitMethod(fromRight bool) exec.Method[string] {
	return func(s string, _ *exec.Value, params *exec.VarArgs) (any, error) {
		a, err := args("split", params, "sep", "maxsplit")
		if err != nil {
			return nil, err
		}
		limit := -1
		if a[1] != nil {
			if !a[1].IsInteger() {
				return nil, fmt.Errorf("split maxsplit must be an integer")
			}
			limit = a[1].Integer()
		}
		var parts []string
		if a[0] == nil {
			parts = splitSpace(s, limit, fromRight)
		} else {
			if !a[0].IsString() {
				return nil, fmt.Errorf("split sep must be None or str")
			}
			sep := a[0].String()
			if sep == "" {
				return nil, fmt.Errorf("empty separator")
			}
			parts = splitSep(s, sep, limit, fromRight)
		}
		out := make(list, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	}
}

// list is a list a template indexes as Python does. gonja refuses the
// negative index that reaches the first item (x[-1] of a one-item list,
// x[-2] of two), so the Qwen3 template's content.split('</think>')[-1]
// failed on content without text before the tag. Split results and the
// lists Render passes in are lists.
type list []any

// GetItem implements gonja's exec.ItemGetter.
func (l list) GetItem(key any) (*exec.Value, bool) {
	i, ok := key.(int)
	if !ok {
		return exec.AsValue(nil), false
	}
	if i < 0 {
		i += len(l)
	}
	if i < 0 || i >= len(l) {
		return exec.AsValue(nil), false
	}
	return exec.AsValue(l[i]), true
}

func splitSep(s, sep string, limit int, fromRight bool) []string {
	if limit < 0 {
		return strings.Split(s, sep)
	}
	if !fromRight {
		return strings.SplitN(s, sep, limit+1)
	}
	var rev []string
	for len(rev) < limit {
		i := strings.LastIndex(s, sep)
		if i < 0 {
			break
		}
		rev = append(rev, s[i+len(sep):])
		s = s[:i]
	}
	out := []string{s}
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}

// splitSpace splits on runs of whitespace. With a limit, the last part (the
// first, from the right) keeps the rest of the string with its inner
// whitespace but without the whitespace that separates it.
func splitSpace(s string, limit int, fromRight bool) []string {
	if limit < 0 {
		return strings.FieldsFunc(s, pyIsSpace)
	}
	if fromRight {
		var rev []string
		s = strings.TrimRightFunc(s, pyIsSpace)
		for len(rev) < limit && s != "" {
			i := strings.LastIndexFunc(s, pyIsSpace)
			if i < 0 {
				break
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			rev = append(rev, s[i+size:])
			s = strings.TrimRightFunc(s[:i], pyIsSpace)
		}
		var out []string
		if s != "" {
			out = append(out, s)
		}
		for i := len(rev) - 1; i >= 0; i-- {
			out = append(out, rev[i])
		}
		return out
	}
	var out []string
	s = strings.TrimLeftFunc(s, pyIsSpace)
	for len(out) < limit && s != "" {
		i := strings.IndexFunc(s, pyIsSpace)
		if i < 0 {
			break
		}
		out = append(out, s[:i])
		s = strings.TrimLeftFunc(s[i:], pyIsSpace)
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// itemsFilter is Jinja's items: a mapping's (key, value) pairs, in the
// order of a template's dict literal or of DecodeJSON's objects, and in key
// order for a Go map, which has no order of its own (gonja's items returns
// nothing for the former and a random order for the latter).
func itemsFilter(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	if len(params.Args) > 0 || len(params.KwArgs) > 0 {
		return exec.AsValue(fmt.Errorf("items takes no arguments"))
	}
	if in.IsNil() {
		return exec.AsValue([]any{})
	}
	if d, ok := in.Interface().(*exec.Dict); ok {
		out := make([]any, len(d.Pairs))
		for i, p := range d.Pairs {
			out[i] = []any{p.Key.Interface(), p.Value.Interface()}
		}
		return exec.AsValue(out)
	}
	if !in.IsDict() {
		return exec.AsValue(fmt.Errorf("items requires a mapping, got %s", in.String()))
	}
	keys := in.Keys() // sorted
	out := make([]any, len(keys))
	for i, k := range keys {
		v, _ := in.GetItem(k.Interface())
		out[i] = []any{k.Interface(), v.Interface()}
	}
	return exec.AsValue(out)
}
