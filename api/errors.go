package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/models"
)

// Error codes of the JSON envelope (SPEC §4).
const (
	CodeCampaignNotFound   = "BacklinkCampaignNotFoundError"
	CodeLeadNotFound       = "BacklinkLeadNotFoundError"
	CodeTemplateNotFound   = "BacklinkTemplateNotFoundError"
	CodeReplyNotFound      = "BacklinkReplyNotFoundError"
	CodeNotFound           = "NotFoundError"
	CodeMethodNotAllowed   = "MethodNotAllowedError"
	CodeValidation         = "ValidationError"
	CodeMalformedJSON      = "MalformedJSONError"
	CodeTooLarge           = "PayloadTooLargeError"
	CodeUnauthorized       = "UnauthorizedError"
	CodeLeadExists         = "BacklinkLeadExistsError"
	CodeInvalidTransition  = "InvalidStatusTransitionError"
	CodeConflict           = "ConflictError"
	CodeUnavailable        = "ServiceUnavailableError"
	CodeInternal           = "InternalError"
	CodeUnsupportedContent = "UnsupportedMediaTypeError"
)

// Envelope is the body of every error response.
type Envelope struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody describes one failed request.
type ErrorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Details   []any  `json:"details"`
	RequestID string `json:"request_id,omitempty"`
}

// httpError is an error that already knows its HTTP answer. Handlers build
// one only for conditions that exist at the HTTP layer (bad JSON, body too
// large); domain errors are mapped in respond.
type httpError struct {
	status  int
	code    string
	message string
	details []any
}

func (e *httpError) Error() string { return e.message }

func badRequest(code, msg string, details ...any) error {
	return &httpError{status: http.StatusBadRequest, code: code, message: msg, details: details}
}

// fail writes the envelope for err and stops the handler chain.
func fail(c *gin.Context, err error) {
	status, body := classify(err)
	body.RequestID = requestID(c)
	if status >= 500 {
		loggerFrom(c).ErrorContext(c.Request.Context(), "request failed", "error", err, "status", status)
	}
	c.AbortWithStatusJSON(status, Envelope{Error: body})
}

// classify maps an error onto an HTTP status and envelope. Internal error
// text never reaches the client on 5xx.
func classify(err error) (int, ErrorBody) {
	var (
		he *httpError
		ve *models.ValidationError
		te *models.TransitionError
		se *models.StateError
		mb *http.MaxBytesError
	)
	switch {
	case errors.As(err, &he):
		return he.status, ErrorBody{Code: he.code, Message: he.message, Details: orEmpty(he.details)}
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge, ErrorBody{
			Code: CodeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", mb.Limit), Details: []any{},
		}
	case errors.As(err, &ve):
		details := make([]any, len(ve.Fields))
		for i, f := range ve.Fields {
			details[i] = f
		}
		return http.StatusUnprocessableEntity, ErrorBody{Code: CodeValidation, Message: "the request has invalid fields", Details: details}
	case errors.As(err, &te):
		return http.StatusConflict, ErrorBody{
			Code:    CodeInvalidTransition,
			Message: fmt.Sprintf("a lead cannot move from %s to %s", te.From, te.To),
			Details: []any{map[string]string{"from": string(te.From), "to": string(te.To)}},
		}
	case errors.As(err, &se):
		return http.StatusConflict, ErrorBody{
			Code: CodeConflict, Message: se.Error(),
			Details: []any{map[string]string{"state": string(se.State), "action": se.Action}},
		}
	case errors.Is(err, models.ErrCampaignNotFound):
		return http.StatusNotFound, ErrorBody{Code: CodeCampaignNotFound, Message: "campaign not found", Details: []any{}}
	case errors.Is(err, models.ErrLeadNotFound):
		return http.StatusNotFound, ErrorBody{Code: CodeLeadNotFound, Message: "lead not found", Details: []any{}}
	case errors.Is(err, models.ErrTemplateNotFound):
		return http.StatusNotFound, ErrorBody{Code: CodeTemplateNotFound, Message: "template not found", Details: []any{}}
	case errors.Is(err, models.ErrReplyNotFound):
		return http.StatusNotFound, ErrorBody{Code: CodeReplyNotFound, Message: "reply not found", Details: []any{}}
	case errors.Is(err, models.ErrDuplicateLead):
		return http.StatusConflict, ErrorBody{Code: CodeLeadExists, Message: models.ErrDuplicateLead.Error(), Details: []any{}}
	case errors.Is(err, models.ErrConflict):
		return http.StatusConflict, ErrorBody{Code: CodeConflict, Message: err.Error(), Details: []any{}}
	case errors.Is(err, models.ErrUnavailable):
		return http.StatusServiceUnavailable, ErrorBody{
			Code: CodeUnavailable, Message: "a service the engine depends on is unreachable; try again shortly", Details: []any{},
		}
	default:
		return http.StatusInternalServerError, ErrorBody{Code: CodeInternal, Message: "internal error", Details: []any{}}
	}
}

func orEmpty(d []any) []any {
	if d == nil {
		return []any{}
	}
	return d
}

// decodeJSON reads a JSON object into dst, strictly: unknown fields, wrong
// types, trailing data and oversize bodies are errors the client can act on.
func decodeJSON(c *gin.Context, dst any) error {
	if ct := c.ContentType(); ct != "" && ct != "application/json" {
		return &httpError{
			status: http.StatusUnsupportedMediaType, code: CodeUnsupportedContent,
			message: "send the request body as application/json", details: []any{},
		}
	}
	// Read whole (the body limit still holds) so the keys can be checked
	// once the value has decoded.
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return err
	}
	if !utf8.Valid(raw) {
		// encoding/json would store U+FFFD in place of each bad byte: what
		// was sent (a Latin-1 client's "Café") would not be what is kept.
		return badRequest(CodeMalformedJSON, "the request body is not valid UTF-8, as JSON must be (RFC 8259); send text in UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			// Every wrong type, not only the first.
			if all := typeProblems(raw, reflect.TypeOf(dst), "", "body"); all != nil {
				return all
			}
		}
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(CodeMalformedJSON, "the request body must hold a single JSON value")
	}
	return checkKeys(raw, reflect.TypeOf(dst), "")
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mb  *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mb):
		return err
	case errors.Is(err, io.EOF):
		return badRequest(CodeMalformedJSON, "the request body is empty; send a JSON object")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(CodeMalformedJSON, "the request body is not valid JSON: "+err.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		ve := &models.ValidationError{}
		ve.Add(field, fmt.Sprintf("must be %s, not %s", jsonTypeName(typ.Type.Kind().String()), typ.Value))
		return ve
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		ve := &models.ValidationError{}
		ve.Add(name, "unknown field")
		return ve
	default:
		return badRequest(CodeMalformedJSON, "the request body is not valid JSON: "+err.Error())
	}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "float64", "float32", "int", "int64", "int32", "uint", "uint64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	default:
		return kind
	}
}

func loggerFrom(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		if lg, ok := l.(*slog.Logger); ok {
			return lg
		}
	}
	return slog.Default()
}
