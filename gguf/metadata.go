package gguf

import "fmt"

// Typed access to metadata. Each accessor fails with an error naming the key
// when it is missing or holds a value of another kind; integer accessors
// accept any integer type whose value fits.

// Has reports whether key is present.
func (f *File) Has(key string) bool { _, ok := f.kv[key]; return ok }

// Value returns the raw value of key.
func (f *File) Value(key string) (any, bool) {
	i, ok := f.kv[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// Tensor returns the tensor with the given name, or nil.
func (f *File) Tensor(name string) *Tensor { return f.tensors[name] }

func (f *File) get(key string) (any, error) {
	v, ok := f.Value(key)
	if !ok {
		return nil, fmt.Errorf("metadata key %q is missing", key)
	}
	return v, nil
}

func mistyped(key string, v any, want string) error {
	return fmt.Errorf("metadata key %q holds %s, want %s", key, describe(v), want)
}

func describe(v any) string {
	if a, ok := v.(Array); ok {
		return "array of " + a.Elem.String()
	}
	return fmt.Sprintf("%T", v)
}

// String returns a string value.
func (f *File) String(key string) (string, error) {
	v, err := f.get(key)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", mistyped(key, v, "string")
	}
	return s, nil
}

// Int returns an integer value of any integer type.
func (f *File) Int(key string) (int64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	n, ok := asInt(v)
	if !ok {
		return 0, mistyped(key, v, "an integer")
	}
	return n, nil
}

// Uint returns a non-negative integer value of any integer type.
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	if u, ok := v.(uint64); ok {
		return u, nil
	}
	n, ok := asInt(v)
	if !ok {
		return 0, mistyped(key, v, "an unsigned integer")
	}
	if n < 0 {
		return 0, fmt.Errorf("metadata key %q is %d, want a non-negative integer", key, n)
	}
	return uint64(n), nil
}

// Float returns a float32 or float64 value.
func (f *File) Float(key string) (float64, error) {
	v, err := f.get(key)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	return 0, mistyped(key, v, "a float")
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.get(key)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, mistyped(key, v, "bool")
	}
	return b, nil
}

// Strings returns an array of strings.
func (f *File) Strings(key string) ([]string, error) {
	return arrayOf[string](f, key, "array of string")
}

// Float32s returns an array of float32.
func (f *File) Float32s(key string) ([]float32, error) {
	return arrayOf[float32](f, key, "array of float32")
}

// Int32s returns an array of int32.
func (f *File) Int32s(key string) ([]int32, error) { return arrayOf[int32](f, key, "array of int32") }

func arrayOf[T any](f *File, key, want string) ([]T, error) {
	v, err := f.get(key)
	if err != nil {
		return nil, err
	}
	a, ok := v.(Array)
	if !ok {
		return nil, mistyped(key, v, want)
	}
	s, ok := a.Values.([]T)
	if !ok {
		return nil, mistyped(key, v, want)
	}
	return s, nil
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x <= 1<<63-1 {
			return int64(x), true
		}
	}
	return 0, false
}
