package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/models"
)

// Input helpers shared by the handlers: query parameters, page limits and
// cursors, text fields. Every helper reports a bad value as a field of a
// models.ValidationError, so one request gets one detail per bad field.

// checkQuery refuses query parameters the route does not document: a typo
// such as ?staus=active must not silently list everything.
func checkQuery(c *gin.Context, v *models.ValidationError, allowed ...string) {
	q := c.Request.URL.Query()
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !slices.Contains(allowed, name) {
			v.Add(name, "unknown query parameter; this route accepts: "+strings.Join(allowed, ", "))
			continue
		}
		if len(q[name]) > 1 {
			v.Add(name, "give this query parameter once")
		}
	}
}

// queryLimit parses ?limit=, defaulting to def and refusing values outside
// 1..max rather than clamping them silently.
func queryLimit(c *gin.Context, v *models.ValidationError, def, limit int) int {
	raw, ok := c.GetQuery("limit")
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 1 || n > limit {
		v.Add("limit", fmt.Sprintf("must be a whole number from 1 to %d", limit))
		return def
	}
	return n
}

// queryBool parses an optional true/false query parameter.
func queryBool(c *gin.Context, v *models.ValidationError, name string) bool {
	raw, ok := c.GetQuery(name)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(strings.TrimSpace(raw))
	if err != nil {
		v.Add(name, "must be true or false")
	}
	return b
}

// cursorPayload is what a page token holds. Each list stamps its own kind,
// so a cursor of one list replayed on another is refused, not misread.
type cursorPayload struct {
	Kind string   `json:"k"`
	Sort string   `json:"s,omitempty"`
	Time string   `json:"t,omitempty"`
	Num  *float64 `json:"n,omitempty"`
	ID   string   `json:"i"`
}

// encodeCursor makes an opaque page token. It is not secret (it holds only a
// sort key and an id the caller has already seen), only opaque, so clients
// do not build their own.
func encodeCursor(p cursorPayload) string {
	b, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(b)
}

// idCursor is the next-page token of a list paged by id alone, after the
// row next; nil (the last page) when next is empty.
func idCursor(kind, next string) *string {
	if next == "" {
		return nil
	}
	tok := encodeCursor(cursorPayload{Kind: kind, ID: next})
	return &tok
}

// decodeCursor reads ?cursor= for a list of the given kind and sort; nil
// when absent.
func decodeCursor(c *gin.Context, v *models.ValidationError, kind, sort string) *cursorPayload {
	raw, ok := c.GetQuery("cursor")
	if !ok || raw == "" {
		return nil
	}
	const bad = "is not a cursor from this list; pass next_cursor from the previous page unchanged"
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		v.Add("cursor", bad)
		return nil
	}
	var p cursorPayload
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.Kind != kind || !models.ValidID(p.ID) {
		v.Add("cursor", bad)
		return nil
	}
	if p.Sort != sort {
		v.Add("cursor", fmt.Sprintf("was made for sort=%s; keep the same sort while paging", p.Sort))
		return nil
	}
	return &p
}

// checkText validates a free-text field: trimmed length in runes within
// min..max, no NUL (PostgreSQL text cannot hold it), valid UTF-8. It returns
// the trimmed value.
func checkText(v *models.ValidationError, field, value string, minLen, maxLen int) string {
	s := strings.TrimSpace(value)
	if !checkStorable(v, field, s) {
		return s
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n < minLen && minLen == 1:
		v.Add(field, "is required")
	case n < minLen:
		v.Add(field, fmt.Sprintf("must be at least %d characters", minLen))
	case n > maxLen:
		v.Add(field, fmt.Sprintf("must be at most %d characters (got %d)", maxLen, n))
	}
	return s
}

// checkStorable refuses a value PostgreSQL text cannot hold: invalid UTF-8
// or a NUL character. Every string from a request that reaches SQL (bodies,
// query parameters, CSV cells) passes here, directly or through checkText:
// otherwise the database refuses it and the client gets a 500. JSON bodies
// with invalid UTF-8 are refused whole (decodeJSON), but query parameters
// and CSV files can carry it.
func checkStorable(v *models.ValidationError, field, value string) bool {
	switch {
	case !utf8.ValidString(value):
		v.Add(field, "must be valid UTF-8")
	case strings.ContainsRune(value, 0):
		v.Add(field, "must not contain NUL characters")
	default:
		return true
	}
	return false
}

// checkRawText is checkText for bodies whose whitespace is content (e-mail
// bodies): the value is kept as sent, only its trimmed length is checked.
func checkRawText(v *models.ValidationError, field, value string, minLen, maxLen int) string {
	checkText(v, field, value, minLen, maxLen)
	return value
}

// checkScore accepts nil or a finite number in 0..1. JSON cannot carry NaN
// or Inf, but CSV and other callers of the lead validation can.
func checkScore(v *models.ValidationError, field string, p *float64) {
	if p == nil {
		return
	}
	if math.IsNaN(*p) || math.IsInf(*p, 0) || *p < 0 || *p > 1 {
		v.Add(field, "must be a number from 0 to 1")
	}
}

// decodeStrictInto decodes raw (one JSON value) into dst the way decodeJSON
// decodes a body, naming bad fields under prefix ("settings"), so nested
// objects get details that point at the right place. A value that is wrong
// as a whole is named prefix, or "body" without one.
func decodeStrictInto(raw json.RawMessage, dst any, prefix string) error {
	return decodeStrictNamed(raw, dst, prefix, orBody(prefix))
}

// decodeStrictNamed is decodeStrictInto naming a wrong whole value whole.
func decodeStrictNamed(raw json.RawMessage, dst any, prefix, whole string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, tErr := dec.Token(); !errors.Is(tErr, io.EOF) {
			err = errors.New("trailing data")
		}
	}
	if err == nil {
		return checkKeys(raw, reflect.TypeOf(dst), prefix)
	}
	v := &models.ValidationError{}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		// Every wrong type, not only the first.
		if all := typeProblems(raw, reflect.TypeOf(dst), prefix, whole); all != nil {
			return all
		}
	}
	switch {
	case errors.As(err, &typ):
		field := whole
		if typ.Field != "" {
			field = joinField(prefix, typ.Field)
		}
		v.Add(field, fmt.Sprintf("must be %s, not %s", jsonTypeName(typ.Type.Kind().String()), typ.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		v.Add(whole, "unknown field "+name)
	default:
		v.Add(whole, "is not valid JSON")
	}
	return v
}

func joinField(prefix, field string) string {
	if prefix == "" {
		return field
	}
	if strings.HasPrefix(field, "[") {
		return prefix + field
	}
	return prefix + "." + field
}

func orBody(prefix string) string {
	if prefix == "" {
		return "body"
	}
	return prefix
}

// isNull reports whether a raw JSON value is the literal null.
func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// present reports whether a field was sent at all (null included).
func present(raw json.RawMessage) bool { return len(raw) > 0 }

// unprocessable builds a 422 with a single detail.
func unprocessable(field, reason string) error {
	v := &models.ValidationError{}
	v.Add(field, reason)
	return v
}

// tooMany is the 422 for a list longer than its limit.
func tooMany(field string, got, limit int) error {
	return unprocessable(field, fmt.Sprintf("at most %d items per request (got %d)", limit, got))
}

// readRawMessage reads a body that is one raw RFC 5322 message
// (Content-Type message/rfc822, or text/plain); on another type or a failed
// read it answers the error and returns false.
func readRawMessage(c *gin.Context) ([]byte, bool) {
	switch c.ContentType() {
	case "message/rfc822", "text/plain":
	default:
		fail(c, &httpError{
			status: http.StatusUnsupportedMediaType, code: CodeUnsupportedContent,
			message: "send the raw message as Content-Type: message/rfc822 (or text/plain)", details: []any{},
		})
		return nil, false
	}
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, err)
		return nil, false
	}
	return raw, true
}
