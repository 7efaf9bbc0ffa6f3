package data

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Table is a data file's rows exactly as they were read, kept so that
// derived files (difficulty levels, say) can carry every column of the
// input, with a few added, and nothing else changed.
type Table struct {
	Rows []map[string]any
	// schema is the Parquet schema of the input, nil for JSON Lines; a
	// Parquet output keeps it, so column types and nesting stay as they
	// were.
	schema *parquet.Schema
}

// ReadTable reads every row of a .jsonl or .parquet file without
// interpreting it.
func ReadTable(path string) (*Table, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet":
		return readParquetTable(path)
	case ".jsonl", ".json", ".ndjson":
		rows, err := readJSONL(path)
		return &Table{Rows: rows}, err
	}
	return nil, fmt.Errorf("%s: unknown data format (want .jsonl or .parquet)", path)
}

// Parquet reports whether the table was read from a Parquet file.
func (t *Table) Parquet() bool { return t.schema != nil }

// readParquetTable reads rows of any schema into maps, reconstructing
// nested groups (a list of messages, reward_model) as maps and lists.
func readParquetTable(path string) (t *Table, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// The library panics on some malformed files; a bad file is an error.
	defer func() {
		if p := recover(); p != nil {
			t, err = nil, fmt.Errorf("%s: malformed parquet file: %v", path, p)
		}
	}()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t = &Table{schema: pf.Schema()}
	r := parquet.NewReader(pf, pf.Schema())
	defer r.Close()
	for {
		row := map[string]any{}
		if err := r.Read(&row); errors.Is(err, io.EOF) {
			return t, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", path, len(t.Rows)+1, err)
		}
		t.Rows = append(t.Rows, row)
	}
}

// WriteJSONL writes rows as JSON Lines.
func WriteJSONL(path string, rows []map[string]any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // keep "<think>" readable
	for i, row := range rows {
		if err := enc.Encode(row); err != nil {
			f.Close()
			return fmt.Errorf("%s: row %d: %w", path, i+1, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// WriteParquet writes rows, which are rows of t with the columns of added
// set, as a Parquet file whose schema is t's followed by added. The
// input's columns keep their order, types and nesting.
func (t *Table) WriteParquet(path string, rows []map[string]any, added parquet.Group) (err error) {
	if t.schema == nil {
		return fmt.Errorf("%s: the input was not parquet, so there is no schema to keep", path)
	}
	var fields []parquet.Field
	for _, f := range t.schema.Fields() {
		fields = append(fields, mapField{f})
	}
	for _, f := range added.Fields() {
		if slices.ContainsFunc(fields, func(g parquet.Field) bool { return g.Name() == f.Name() }) {
			return fmt.Errorf("%s: the input already has a %q column", path, f.Name())
		}
		fields = append(fields, f)
	}
	schema := parquet.NewSchema(t.schema.Name(), appended{t.schema, fields})
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// The library panics when a value does not fit its column; that is an
	// error in the rows, not a reason to crash.
	defer func() {
		if p := recover(); p != nil {
			f.Close()
			err = fmt.Errorf("%s: %v", path, p)
		}
	}()
	w := parquet.NewWriter(f, schema)
	for i, row := range rows {
		if err := w.Write(row); err != nil {
			f.Close()
			return fmt.Errorf("%s: row %d: %w", path, i+1, err)
		}
	}
	if err := w.Close(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// appended is a group node with fields after its own. parquet.Group would
// sort the fields by name; this keeps the input's column order.
type appended struct {
	parquet.Node
	fields []parquet.Field
}

func (a appended) Fields() []parquet.Field { return a.fields }

// mapField is a column of an input file read back from the maps Table
// holds. The file's own columns look values up in a map only when it is
// not inside an interface, which a nested map[string]any always is.
type mapField struct{ parquet.Field }

func (f mapField) Value(base reflect.Value) reflect.Value {
	for base.Kind() == reflect.Interface {
		if base.IsNil() {
			return reflect.Value{}
		}
		base = base.Elem()
	}
	if base.Kind() != reflect.Map {
		return reflect.Value{}
	}
	return base.MapIndex(reflect.ValueOf(f.Name()))
}

func (f mapField) Fields() []parquet.Field {
	var fields []parquet.Field
	for _, g := range f.Field.Fields() {
		fields = append(fields, mapField{g})
	}
	return fields
}
