package api

// The API test harness: a Server on a fresh storetest database, users with
// API keys, JSON requests, envelope decoding. Tests of every API file use it;
// keep it small and general.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/config"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

// testServer is an API server on its own database.
type testServer struct {
	t   testing.TB
	DB  *gorm.DB
	Srv *Server
	// Dialect is the database behind DB.
	Dialect store.Dialect
}

// eachServer runs fn on SQLite and, when TEST_DATABASE_URL is set, on
// PostgreSQL, each with a fresh database and server. opts adjust the
// server's dependencies (an Engine, a smaller body limit...).
func eachServer(t *testing.T, fn func(t *testing.T, ts *testServer), opts ...func(*Deps)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		fn(t, newTestServer(t, db, opts...))
	})
}

// newTestServer builds a Server on db with the default configuration.
func newTestServer(t testing.TB, db *gorm.DB, opts ...func(*Deps)) *testServer {
	t.Helper()
	cfg, err := config.LoadFrom(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("default config: %v", err)
	}
	d := Deps{DB: db, Config: cfg}
	for _, o := range opts {
		o(&d)
	}
	return &testServer{t: t, DB: db, Srv: New(d), Dialect: store.DialectOf(db)}
}

// testClient makes requests as one user.
type testClient struct {
	ts   *testServer
	User models.User
	Key  string
}

// newUser creates a user with a fresh API key.
func (ts *testServer) newUser(email string) *testClient {
	ts.t.Helper()
	ctx := context.Background()
	u, err := store.CreateUser(ctx, ts.DB, email)
	if err != nil {
		ts.t.Fatalf("create user %s: %v", email, err)
	}
	key, _, err := store.CreateKey(ctx, ts.DB, u.ID)
	if err != nil {
		ts.t.Fatalf("create key: %v", err)
	}
	return &testClient{ts: ts, User: u, Key: key}
}

// anonymous is a client without an API key.
func (ts *testServer) anonymous() *testClient { return &testClient{ts: ts} }

// do sends a request to BasePath+path. body is nil (no body), a string or
// []byte (sent as is), or any value (sent as JSON).
func (c *testClient) do(method, path string, body any) *testResponse {
	c.ts.t.Helper()
	return c.doFull(method, BasePath+path, body)
}

// doFull is do with a path from the root (public routes).
func (c *testClient) doFull(method, path string, body any) *testResponse {
	c.ts.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			c.ts.t.Fatalf("encode request body: %v", err)
		}
		r = bytes.NewReader(raw)
	}
	req := httptest.NewRequestWithContext(context.Background(), method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	return c.ts.serve(req)
}

// serve runs any request through the server.
func (ts *testServer) serve(req *http.Request) *testResponse {
	w := httptest.NewRecorder()
	ts.Srv.Handler().ServeHTTP(w, req)
	return &testResponse{t: ts.t, Code: w.Code, Body: w.Body.Bytes(), Header: w.Header(), req: req.Method + " " + req.URL.String()}
}

// testResponse is a recorded response.
type testResponse struct {
	t      testing.TB
	Code   int
	Body   []byte
	Header http.Header
	req    string
}

// expect fails the test unless the status is code.
func (r *testResponse) expect(code int) *testResponse {
	r.t.Helper()
	if r.Code != code {
		r.t.Fatalf("%s: status %d, want %d; body: %s", r.req, r.Code, code, truncate(r.Body, 2000))
	}
	return r
}

// decode decodes the JSON body into v, zeroing it first so that a field
// the body omits does not keep a value from an earlier decode.
func (r *testResponse) decode(v any) {
	r.t.Helper()
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv.Elem().SetZero()
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("%s: decode %T: %v; body: %s", r.req, v, err, truncate(r.Body, 2000))
	}
}

// envelope decodes an error envelope and checks it is one.
func (r *testResponse) envelope() Envelope {
	r.t.Helper()
	var env Envelope
	r.decode(&env)
	if env.Error.Code == "" || env.Error.Message == "" || env.Error.Details == nil {
		r.t.Fatalf("%s: not an error envelope: %s", r.req, truncate(r.Body, 2000))
	}
	return env
}

// expectError checks status and envelope code and returns the envelope.
func (r *testResponse) expectError(code int, errCode string) Envelope {
	r.t.Helper()
	r.expect(code)
	env := r.envelope()
	if env.Error.Code != errCode {
		r.t.Fatalf("%s: error code %s, want %s; body: %s", r.req, env.Error.Code, errCode, truncate(r.Body, 2000))
	}
	return env
}

// detailFields lists the "field" of every detail of an envelope.
func detailFields(env Envelope) []string {
	var out []string
	for _, d := range env.Error.Details {
		if m, ok := d.(map[string]any); ok {
			if f, ok := m["field"].(string); ok {
				out = append(out, f)
			}
		}
	}
	return out
}

// expectFields checks a 422 names exactly these fields (in any order).
func (r *testResponse) expectFields(fields ...string) Envelope {
	r.t.Helper()
	env := r.expectError(http.StatusUnprocessableEntity, CodeValidation)
	got := detailFields(env)
	slices.Sort(got)
	want := slices.Clone(fields)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		r.t.Fatalf("%s: detail fields %v, want %v; body: %s", r.req, got, want, truncate(r.Body, 2000))
	}
	return env
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// Fixtures used across API tests.

// createCampaign creates a campaign through the API.
func (c *testClient) createCampaign(name string) CampaignOut {
	c.ts.t.Helper()
	var out CampaignOut
	c.do(http.MethodPost, "/campaigns", map[string]any{"name": name, "keywords": []string{"SaaS"}}).
		expect(http.StatusCreated).decode(&out)
	return out
}

// addLead adds one lead through the API.
func (c *testClient) addLead(campaignID string, in map[string]any) LeadOut {
	c.ts.t.Helper()
	var out LeadOut
	c.do(http.MethodPost, "/campaigns/"+campaignID+"/leads", in).expect(http.StatusCreated).decode(&out)
	return out
}

// createTemplate creates a template through the API.
func (c *testClient) createTemplate(name, subject, body string) TemplateOut {
	c.ts.t.Helper()
	var out TemplateOut
	c.do(http.MethodPost, "/emails/templates", map[string]any{"name": name, "subject": subject, "body": body}).
		expect(http.StatusCreated).decode(&out)
	return out
}
