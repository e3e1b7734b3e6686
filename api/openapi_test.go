package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
)

// undocumented lists the router's routes missing from an OpenAPI document.
func undocumented(e *gin.Engine, doc map[string]any) []string {
	paths, _ := doc["paths"].(map[string]any)
	var missing []string
	for _, r := range e.Routes() {
		item, _ := paths[OpenAPIPath(r.Path)].(map[string]any)
		if _, ok := item[strings.ToLower(r.Method)]; !ok {
			missing = append(missing, r.Method+" "+r.Path)
		}
	}
	return missing
}

// fetchOpenAPI reads /openapi.json the way a client would.
func fetchOpenAPI(t *testing.T, ts *testServer) map[string]any {
	t.Helper()
	var doc map[string]any
	ts.anonymous().doFull(http.MethodGet, "/openapi.json", nil).expect(http.StatusOK).decode(&doc)
	return doc
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, storetest.New(t, store.SQLite))
	doc := fetchOpenAPI(t, ts)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi version %v, want 3.1.0", doc["openapi"])
	}
	if missing := undocumented(ts.Srv.Engine(), doc); len(missing) > 0 {
		t.Fatalf("routes missing from /openapi.json: %v", missing)
	}
	for _, r := range ts.Srv.Routes() {
		if strings.TrimSpace(r.Summary) == "" {
			t.Errorf("%s %s has no Summary", r.Method, r.FullPath())
		}
	}
	// Every $ref points at a schema the document defines.
	schemas, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var walk func(v any)
	refs := 0
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				refs++
				name := strings.TrimPrefix(ref, "#/components/schemas/")
				if _, ok := schemas[name]; !ok {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if refs == 0 {
		t.Fatal("no $ref at all: schemas are not being generated")
	}
	// The document is what the handlers answer: spot-check a few schemas.
	for name, field := range map[string]string{
		"CampaignOut": "lead_counts", "LeadInput": "website_url", "BulkAddResult": "failed",
		"TemplateOut": "unknown_placeholders", "PreviewOut": "unfilled_placeholders",
	} {
		props, _ := schemas[name].(map[string]any)["properties"].(map[string]any)
		if _, ok := props[field]; !ok {
			t.Errorf("schema %s lacks %s", name, field)
		}
	}
	b, _ := json.Marshal(doc["paths"].(map[string]any)[OpenAPIPath(BasePath+"/campaigns/:id/leads/bulk")])
	if !strings.Contains(string(b), `"type":"array"`) {
		t.Errorf("bulk add should document an array body: %s", b)
	}
}

// A route registered with raw gin, bypassing Server.handle, must be caught.
func TestOpenAPICatchesRawRoutes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, storetest.New(t, store.SQLite))
	ts.Srv.Engine().GET(BasePath+"/sneaky/:id", func(c *gin.Context) { c.Status(http.StatusOK) })
	missing := undocumented(ts.Srv.Engine(), fetchOpenAPI(t, ts))
	if len(missing) != 1 || missing[0] != "GET "+BasePath+"/sneaky/:id" {
		t.Fatalf("raw route not reported: %v", missing)
	}
}
