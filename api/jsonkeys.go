package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/backlinkoutreach/outreach/models"
)

// encoding/json matches object keys to struct fields case-insensitively
// and lets a repeated key overwrite the earlier one, even with
// DisallowUnknownFields. A client sending {"Timezone": ...} or
// {"name": "x", "NAME": "y"} would have a value silently ignored or
// replaced, so after a body decodes, checkKeys walks it again and refuses
// every key that is not exactly a field name, and every key given twice.

// checkKeys reports, as a *models.ValidationError, the object keys of raw
// (one JSON value that decoded into a value of type t) that name a field of
// t only up to case, and the keys repeated within one object. Fields are
// named from prefix as decodeStrictInto names them. A json.RawMessage is
// skipped: it is checked when it is decoded in turn. Values of any other
// type that decodes itself, or of type any, are checked for repeated keys
// only.
func checkKeys(raw []byte, t reflect.Type, prefix string) error {
	return walkJSON(raw, t, prefix, "", false)
}

// typeProblems reports every value of raw whose JSON type does not fit
// its field in t (with the key problems checkKeys reports), each named by
// its path ("steps[2].delay_days"); whole names raw itself when prefix is
// empty. encoding/json stops at the first wrong type, so a body with two
// got one detail, and one inside an array was named without its index.
func typeProblems(raw []byte, t reflect.Type, prefix, whole string) error {
	return walkJSON(raw, t, prefix, whole, true)
}

func walkJSON(raw []byte, t reflect.Type, prefix, whole string, types bool) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	w := &jsonWalker{dec: dec, v: &models.ValidationError{}, whole: whole, types: types}
	if err := w.walk(t, prefix); err != nil {
		// raw decoded once already, so this cannot happen; refuse rather
		// than pass unchecked.
		return badRequest(CodeMalformedJSON, "the request body is not valid JSON")
	}
	return w.v.Err()
}

// jsonWalker walks one JSON value beside the Go type it decodes into.
type jsonWalker struct {
	dec *json.Decoder
	v   *models.ValidationError
	// types: check the JSON type of each value too; whole names the value
	// at the root.
	types bool
	whole string
}

func (w *jsonWalker) walk(t reflect.Type, path string) error {
	dec, v := w.dec, w.v
	if t == rawMessageType {
		// Decoded later, by decodeStrictInto, which checks it then: a bad
		// row of a bulk add fails alone.
		var skip json.RawMessage
		return dec.Decode(&skip)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	t = keyedType(t)
	if w.types {
		if got, ok := jsonTypeMismatch(t, tok); !ok {
			field := path
			if field == "" {
				field = w.whole
			}
			v.Add(field, fmt.Sprintf("must be %s, not %s", jsonTypeName(t.Kind().String()), got))
			t = nil // its inside is not t's
		}
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if delim == '[' {
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := w.walk(elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = jsonFields(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		field := joinField(path, key)
		valueType := elem
		switch {
		case seen[key]:
			v.Add(field, "is given more than once; send each field once")
		case fields != nil:
			ft, known := fields[key]
			if !known {
				v.Add(field, unknownKeyReason(key, fields))
			}
			valueType = ft
		}
		seen[key] = true
		if err := w.walk(valueType, field); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

// jsonTypeMismatch reports whether token tok (from a decoder with UseNumber)
// can decode into t (keyedType's: nil takes anything), and else how
// encoding/json names what it got ("string", "number 1.5", "array").
func jsonTypeMismatch(t reflect.Type, tok json.Token) (string, bool) {
	if t == nil || tok == nil {
		return "", true // null leaves any field as it was
	}
	k := t.Kind()
	switch x := tok.(type) {
	case json.Delim:
		if x == '[' {
			return "array", k == reflect.Slice || k == reflect.Array
		}
		return "object", k == reflect.Struct || k == reflect.Map
	case string:
		return "string", k == reflect.String
	case bool:
		return "bool", k == reflect.Bool
	case json.Number:
		var err error
		switch {
		case reflect.Int <= k && k <= reflect.Int64:
			_, err = strconv.ParseInt(x.String(), 10, t.Bits())
		case reflect.Uint <= k && k <= reflect.Uintptr:
			_, err = strconv.ParseUint(x.String(), 10, t.Bits())
		case k == reflect.Float32 || k == reflect.Float64:
			_, err = strconv.ParseFloat(x.String(), t.Bits())
		default:
			return "number", false
		}
		return "number " + x.String(), err == nil
	}
	return fmt.Sprint(tok), false
}

// unknownKeyReason explains a key encoding/json accepted for a field of
// another case.
func unknownKeyReason(key string, fields map[string]reflect.Type) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf("unknown field; field names are case-sensitive: use %q", name)
		}
	}
	return "unknown field"
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
)

// keyedType is the type whose keys a JSON value is checked against: t
// without pointers, or nil when t decodes itself or takes anything.
func keyedType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	return t
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps the JSON names of a struct's fields, as encoding/json
// sees them (embedded structs without a name flattened), to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if cached, ok := fieldCache.Load(t); ok {
		if m, ok := cached.(map[string]reflect.Type); ok {
			return m
		}
	}
	m := map[string]reflect.Type{}
	eachJSONField(t, func(f reflect.StructField, name, _ string) {
		if _, dup := m[name]; !dup {
			m[name] = f.Type
		}
	})
	fieldCache.Store(t, m)
	return m
}

// eachJSONField calls fn for each field of struct type t as encoding/json
// sees it: exported, not tagged "-", named by its tag or else its Go name,
// with embedded structs without a name flattened; opts is the rest of the
// tag ("omitempty", ...).
func eachJSONField(t reflect.Type, fn func(f reflect.StructField, name, opts string)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				eachJSONField(ft, fn)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fn(f, name, opts)
	}
}
