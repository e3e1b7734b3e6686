package api

import (
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// OpenAPIPath turns a gin path ("/campaigns/:id") into OpenAPI syntax
// ("/campaigns/{id}").
func OpenAPIPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

// OpenAPI builds the OpenAPI 3.1 document from the route table.
func (s *Server) OpenAPI() map[string]any {
	g := &schemaGen{components: map[string]any{}}
	errRef := g.schema(reflect.TypeFor[Envelope]())
	paths := map[string]any{}
	for _, r := range s.routes {
		p := OpenAPIPath(r.fullPath)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		op := map[string]any{
			"summary":     r.Summary,
			"operationId": operationID(r.Method, p),
		}
		if r.Tag != "" {
			op["tags"] = []string{r.Tag}
		}
		var params []any
		for _, m := range ginParam.FindAllStringSubmatch(r.fullPath, -1) {
			params = append(params, map[string]any{
				"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"},
			})
		}
		for _, q := range r.Query {
			typ := q.Type
			if typ == "" {
				typ = "string"
			}
			params = append(params, map[string]any{
				"name": q.Name, "in": "query", "description": q.Description, "schema": map[string]any{"type": typ},
			})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.Request != nil {
			ct := r.Consumes
			if ct == "" {
				ct = "application/json"
			}
			op["requestBody"] = map[string]any{
				"required": true,
				"content":  map[string]any{ct: map[string]any{"schema": g.schema(reflect.TypeOf(r.Request))}},
			}
		}
		ok := map[string]any{"description": http.StatusText(r.Status)}
		if r.Response != nil {
			ct := r.Produces
			if ct == "" {
				ct = "application/json"
			}
			ok["content"] = map[string]any{ct: map[string]any{"schema": g.schema(reflect.TypeOf(r.Response))}}
		}
		responses := map[string]any{strconv.Itoa(r.Status): ok}
		if r.Accepted != nil {
			responses["202"] = map[string]any{
				"description": "accepted: the work goes on in the background",
				"content":     map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(r.Accepted))}},
			}
		}
		errResp := func(desc string) map[string]any {
			return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
		}
		if !r.public {
			responses["401"] = errResp("missing, unknown or revoked API key")
			op["security"] = []any{map[string]any{"bearer": []string{}}}
		}
		if strings.Contains(r.fullPath, ":") {
			responses["404"] = errResp("not found, or owned by another user")
		}
		if r.Request != nil {
			responses["400"] = errResp("malformed JSON")
			responses["413"] = errResp("body too large")
			responses["422"] = errResp("invalid fields, one detail per field")
		}
		responses["default"] = errResp("error envelope")
		op["responses"] = responses
		item[strings.ToLower(r.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Backlink Outreach Engine API",
			"version":     "1.0.0",
			"description": "Campaigns of leads, pitch emails within safe daily caps, follow-ups, replies and analytics.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "API key from `outreach users create`"},
			},
		},
	}
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '{' || r == '}' || r == '-' || r == '.' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func (s *Server) serveOpenAPI(c *gin.Context) { c.JSON(http.StatusOK, s.OpenAPI()) }

// schemaGen derives JSON Schemas from Go types by their json tags; named
// structs become components referenced by $ref.
type schemaGen struct {
	components map[string]any
}

var timeType = reflect.TypeFor[time.Time]()

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		inner := g.schema(t.Elem())
		return map[string]any{"anyOf": []any{inner, map[string]any{"type": "null"}}}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			return g.structSchema(t)
		}
		if _, ok := g.components[name]; !ok {
			g.components[name] = map[string]any{} // breaks recursion
			g.components[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	default:
		return map[string]any{}
	}
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	eachJSONField(t, func(f reflect.StructField, name, opts string) {
		sch := g.schema(f.Type)
		if d := f.Tag.Get("doc"); d != "" {
			sch = withDescription(sch, d)
		}
		props[name] = sch
		if f.Tag.Get("required") == "true" || (!strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer && f.Tag.Get("binding") == "required") {
			required = append(required, name)
		}
	})
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		sort.Strings(required)
		out["required"] = required
	}
	return out
}

func withDescription(s map[string]any, d string) map[string]any {
	if _, ref := s["$ref"]; ref {
		return map[string]any{"allOf": []any{s}, "description": d}
	}
	out := map[string]any{"description": d}
	for k, v := range s {
		out[k] = v
	}
	return out
}
