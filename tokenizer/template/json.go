package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// toJSONFilter is transformers' tojson, which replaces Jinja2's own: Python's
// json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
// sort_keys=sort_keys), with no HTML escaping. Tool schemas and tool-call
// arguments reach the prompt through it, so its spacing must be Python's:
// ", " and ": " on one line, "," and ": " with an indent.
//
// Objects keep their order when they are gonja dicts (template literals);
// a Go map has no order, so its keys come out sorted.
func toJSONFilter(_ *exec.Evaluator, in *exec.Value, params *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	var opts jsonOptions
	arg := func(pos int, name string) *exec.Value {
		if v, ok := params.KwArgs[name]; ok {
			return v
		}
		if pos < len(params.Args) {
			return params.Args[pos]
		}
		return nil
	}
	for name := range params.KwArgs {
		if !slices.Contains([]string{"ensure_ascii", "indent", "separators", "sort_keys"}, name) {
			return exec.AsValue(fmt.Errorf("tojson got an unexpected keyword argument %q", name))
		}
	}
	if len(params.Args) > 4 {
		return exec.AsValue(fmt.Errorf("tojson takes at most 4 arguments, got %d", len(params.Args)))
	}
	if v := arg(0, "ensure_ascii"); v != nil {
		opts.ensureASCII = v.IsTrue()
	}
	opts.itemSep, opts.keySep = ", ", ": "
	if v := arg(1, "indent"); v != nil && !v.IsNil() {
		switch {
		case v.IsInteger():
			if v.Integer() > maxIndent {
				return exec.AsValue(fmt.Errorf("tojson indent %d is larger than %d", v.Integer(), maxIndent))
			}
			s := strings.Repeat(" ", max(0, v.Integer()))
			opts.indent = &s
		case v.IsString():
			s := v.String()
			opts.indent = &s
		default:
			return exec.AsValue(fmt.Errorf("tojson indent must be an integer or a string, got %s", v.String()))
		}
		opts.itemSep = ","
	}
	if v := arg(2, "separators"); v != nil && !v.IsNil() {
		if !v.IsList() || v.Len() != 2 || !v.Index(0).IsString() || !v.Index(1).IsString() {
			return exec.AsValue(fmt.Errorf("tojson separators must be a pair of strings, got %s", v.String()))
		}
		opts.itemSep, opts.keySep = v.Index(0).String(), v.Index(1).String()
	}
	if v := arg(3, "sort_keys"); v != nil {
		opts.sortKeys = v.IsTrue()
	}
	var b strings.Builder
	if err := opts.encode(&b, reflect.ValueOf(in.Interface()), 0); err != nil {
		return exec.AsValue(fmt.Errorf("tojson: %w", err))
	}
	return exec.AsSafeValue(b.String())
}

// maxIndent bounds tojson's indent, which Python would try to honour until
// memory ran out; no real template indents by more than a few spaces.
const maxIndent = 1024

type jsonOptions struct {
	ensureASCII     bool
	indent          *string // nil: all on one line
	itemSep, keySep string
	sortKeys        bool
}

// maxJSONDepth bounds nesting, as Python's recursion limit does, so that a
// value that contains itself is an error rather than a stack overflow.
const maxJSONDepth = 500

var (
	valueType = reflect.TypeFor[*exec.Value]()
	dictType  = reflect.TypeFor[*exec.Dict]()
)

// deref looks through interfaces and gonja's *exec.Value wrappers to the Go
// value inside; nil comes back as the invalid reflect.Value.
func deref(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Type() == valueType) {
		if v.IsNil() {
			return reflect.Value{}
		}
		if v.Type() == valueType {
			v = v.Interface().(*exec.Value).Val
		} else {
			v = v.Elem()
		}
	}
	return v
}

func (o *jsonOptions) encode(b *strings.Builder, v reflect.Value, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("nesting deeper than %d", maxJSONDepth)
	}
	v = deref(v)
	if !v.IsValid() {
		b.WriteString("null")
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
	}
	if v.Type() == dictType {
		d := v.Interface().(*exec.Dict)
		keys := make([]reflect.Value, len(d.Pairs))
		vals := make([]reflect.Value, len(d.Pairs))
		for i, p := range d.Pairs {
			keys[i], vals[i] = reflect.ValueOf(p.Key), reflect.ValueOf(p.Value)
		}
		return o.object(b, keys, vals, depth)
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		b.WriteString(pyFloat(v.Float()))
	case reflect.String:
		o.quote(b, v.String())
	case reflect.Slice, reflect.Array:
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(o.itemSep)
			}
			o.newline(b, depth+1)
			if err := o.encode(b, v.Index(i), depth+1); err != nil {
				return err
			}
		}
		if v.Len() > 0 {
			o.newline(b, depth)
		}
		b.WriteByte(']')
	case reflect.Map:
		keys := v.MapKeys()
		vals := make([]reflect.Value, len(keys))
		// A Go map has no insertion order to keep: sort so the output is stable.
		slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(keyString(x), keyString(y)) })
		for i, k := range keys {
			vals[i] = v.MapIndex(k)
		}
		return o.object(b, keys, vals, depth)
	case reflect.Pointer:
		return o.encode(b, v.Elem(), depth+1)
	default:
		return fmt.Errorf("object of type %s is not JSON serializable", v.Type())
	}
	return nil
}

func (o *jsonOptions) object(b *strings.Builder, keys, vals []reflect.Value, depth int) error {
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	if o.sortKeys {
		slices.SortStableFunc(order, func(i, j int) int { return strings.Compare(keyString(keys[i]), keyString(keys[j])) })
	}
	b.WriteByte('{')
	for n, i := range order {
		if n > 0 {
			b.WriteString(o.itemSep)
		}
		o.newline(b, depth+1)
		o.quote(b, keyString(keys[i]))
		b.WriteString(o.keySep)
		if err := o.encode(b, vals[i], depth+1); err != nil {
			return err
		}
	}
	if len(keys) > 0 {
		o.newline(b, depth)
	}
	b.WriteByte('}')
	return nil
}

func (o *jsonOptions) newline(b *strings.Builder, depth int) {
	if o.indent == nil {
		return
	}
	b.WriteByte('\n')
	for range depth {
		b.WriteString(*o.indent)
	}
}

// keyString is the object key Python's json.dumps writes for a dict key:
// strings as they are, numbers in decimal, booleans and None as JSON words.
func keyString(k reflect.Value) string {
	k = deref(k)
	if !k.IsValid() {
		return "null"
	}
	switch k.Kind() {
	case reflect.String:
		return k.String()
	case reflect.Bool:
		return strconv.FormatBool(k.Bool())
	case reflect.Float32, reflect.Float64:
		return pyFloat(k.Float())
	}
	return fmt.Sprint(k.Interface())
}

// quote writes s as a JSON string the way json.dumps does: only the quote,
// the backslash and control characters are escaped, and with ensure_ascii
// every non-ASCII character too, as \uXXXX (a surrogate pair past U+FFFF).
func (o *jsonOptions) quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20:
				fmt.Fprintf(b, `\u%04x`, r)
			case r < utf8.RuneSelf || !o.ensureASCII:
				b.WriteRune(r)
			case r > 0xFFFF:
				r -= 0x10000
				fmt.Fprintf(b, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			default:
				fmt.Fprintf(b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
}

// pyFloat formats f as Python's repr(float) does, which json.dumps uses: the
// shortest digits that read back the same, in exponent form below 1e-4 and
// from 1e16 up, and always with a point or an exponent.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // Go writes 1e+16 and 1.5e-05 as Python does
	if exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:]); exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// EncodeJSON writes v as transformers' tojson writes it with no options,
// Python's json.dumps(v, ensure_ascii=False): ", " and ": " between items,
// objects from DecodeJSON in their own order, integers without a point.
// vLLM writes the arguments of the tool calls it parses this way.
func EncodeJSON(v any) (string, error) {
	o := jsonOptions{itemSep: ", ", keySep: ": "}
	var b strings.Builder
	if err := o.encode(&b, reflect.ValueOf(v), 0); err != nil {
		return "", fmt.Errorf("encode JSON: %w", err)
	}
	return b.String(), nil
}

// DecodeJSON decodes JSON into the values a template sees when transformers
// is handed the same JSON through Python's json.loads: objects keep their key
// order (so tojson writes them back unchanged), and integers stay integers
// (tojson writes 3, not 3.0). Use it for tools, tool-call arguments and any
// other structured value a template may print with tojson.
func DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("decode JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("decode JSON: data after the value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nesting deeper than %d", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token() // ]
			return list, err
		case '{':
			dict := exec.NewDict()
			seen := map[string]*exec.Pair{}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := tok.(string)
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				// As in Python's json.loads, a repeated key keeps its first
				// place and its last value.
				if p, ok := seen[key]; ok {
					p.Value = exec.AsValue(v)
					continue
				}
				seen[key] = &exec.Pair{Key: exec.AsValue(key), Value: exec.AsValue(v)}
				dict.Pairs = append(dict.Pairs, seen[key])
			}
			_, err := dec.Token() // }
			return dict, err
		}
		return nil, fmt.Errorf("unexpected %v", tok)
	case json.Number:
		if i, err := tok.Int64(); err == nil && !strings.ContainsAny(string(tok), ".eE") {
			return int(i), nil
		}
		return tok.Float64()
	default: // string, bool, nil
		return tok, nil
	}
}
