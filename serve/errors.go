package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aha-inference/aha/engine"
)

// apiError is an error answered to the client in OpenAI's shape,
// {"error": {"message", "type", "param", "code"}}, on every endpoint (the
// TRL ones included: its client only reads the status and prints the body).
type apiError struct {
	status  int
	message string
	param   string // the request field at fault, "" if none
	code    string // a machine-readable reason, "" if none
}

func (e *apiError) Error() string { return e.message }

// invalid is a 400 about one field of the request.
func invalid(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...), param: param}
}

// refused is a 400 for a request the engine refuses as given, naming the
// sampling parameter at fault when the engine does (engine.ParamError).
func refused(err error) *apiError {
	var pe *engine.ParamError
	if errors.As(err, &pe) {
		return invalid(pe.Param, "%v", err)
	}
	return invalid("", "%v", err)
}

// unimplemented is the 400 for a field aha knows but does not implement:
// silently ignoring it would return something the caller did not ask for.
func unimplemented(param string) *apiError {
	return &apiError{status: http.StatusBadRequest, param: param, code: "unsupported_parameter",
		message: fmt.Sprintf("%s is not supported by aha", param)}
}

func (e *apiError) errorType() string {
	switch {
	case e.status == http.StatusNotImplemented:
		return "not_implemented_error"
	case e.status == http.StatusServiceUnavailable:
		return "service_unavailable_error"
	case e.status >= 500:
		return "server_error"
	case e.status == http.StatusNotFound:
		return "not_found_error"
	case e.status == http.StatusUnauthorized:
		return "authentication_error"
	}
	return "invalid_request_error"
}

// writeError answers err as JSON.
func writeError(w http.ResponseWriter, err *apiError) {
	body := map[string]any{"error": map[string]any{
		"message": err.message,
		"type":    err.errorType(),
		"param":   nullable(err.param),
		"code":    nullable(err.code),
	}}
	writeJSON(w, err.status, body)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeJSON answers v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a bug can get here (every response type marshals).
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"encoding the response failed","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// readBody reads a request body of at most limit bytes and checks that it
// is a JSON object; it returns the object's fields, so handlers can tell a
// field that is absent from one that is null.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, map[string]json.RawMessage, *apiError) {
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, code: "request_too_large",
		message: fmt.Sprintf("the request body is over the %d-byte limit", limit)}
	// A declared length over the limit is refused before waiting for it.
	if r.ContentLength > limit {
		return nil, nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, tooLarge
		}
		return nil, nil, invalid("", "reading the request body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, nil, invalid("", "the request body is empty: a JSON object is expected")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, nil, jsonError(err, "")
	}
	if fields == nil {
		return nil, nil, invalid("", "the request body must be a JSON object, not null")
	}
	return body, fields, nil
}

// decodeInto unmarshals data into v, naming the field at fault (under
// prefix) when a value has the wrong type.
func decodeInto(data []byte, v any, prefix string) *apiError {
	if err := json.Unmarshal(data, v); err != nil {
		return jsonError(err, prefix)
	}
	return nil
}

// jsonError turns a decoding error into a 400 that names the field.
func jsonError(err error, prefix string) *apiError {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalid(prefix, "invalid JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typ):
		// The path names embedded structs by their Go type; clients know
		// only the JSON names.
		field := strings.NewReplacer("trlSampling.", "", "sampling.", "").Replace(typ.Field)
		name := joinField(prefix, field)
		if name == "" {
			return invalid("", "the request body must be a JSON object, not %s", typ.Value)
		}
		return invalid(name, "%s: expected %s, got %s", name, jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name := joinField(prefix, strings.Trim(msg, `"`))
		return invalid(name, "%s is not a field aha knows", name)
	}
	return invalid(prefix, "invalid JSON: %v", err)
}

func joinField(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	}
	return prefix + "." + field
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "a boolean"
	case kind == "slice", kind == "array":
		return "an array"
	case kind == "map", kind == "struct":
		return "an object"
	}
	return kind
}
