package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/backlinkoutreach/outreach/internal/store"
)

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		u.doFull(http.MethodGet, "/nope", nil).expectError(http.StatusNotFound, CodeNotFound)
		u.do(http.MethodGet, "/campaignz", nil).expectError(http.StatusNotFound, CodeNotFound)
		ts.anonymous().doFull(http.MethodGet, "/api/v1/nothing", nil).expectError(http.StatusNotFound, CodeNotFound)
		u.doFull(http.MethodPut, "/healthz", "{}").expectError(http.StatusMethodNotAllowed, CodeMethodNotAllowed)
		u.do(http.MethodDelete, "/campaigns", nil).expectError(http.StatusMethodNotAllowed, CodeMethodNotAllowed)
		u.do(http.MethodPut, "/emails/preview", "{}").expectError(http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	})
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, ts *testServer) {
		u := ts.newUser("owner@example.com")
		u.do(http.MethodGet, "/campaigns", nil).expect(http.StatusOK)

		headers := map[string]string{
			"missing":        "",
			"empty bearer":   "Bearer ",
			"basic scheme":   "Basic b3duZXI6cHc=",
			"unknown key":    "Bearer obk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			"not our format": "Bearer sk-live-123",
			"key of a typo":  "Bearer " + u.Key + "x",
		}
		for name, h := range headers {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, BasePath+"/campaigns", nil)
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			r := ts.serve(req)
			env := r.expectError(http.StatusUnauthorized, CodeUnauthorized)
			if r.Header.Get("WWW-Authenticate") == "" || r.Header.Get(HeaderRequestID) == "" || env.Error.RequestID == "" {
				t.Errorf("%s: missing WWW-Authenticate or request id: %v %+v", name, r.Header, env)
			}
		}
		// Auth is checked before the body: a write without a key is 401, not 4xx about the body.
		ts.anonymous().do(http.MethodPost, "/campaigns", "{not json").expectError(http.StatusUnauthorized, CodeUnauthorized)

		if err := store.RevokeKey(context.Background(), ts.DB, u.Key); err != nil {
			t.Fatal(err)
		}
		u.do(http.MethodGet, "/campaigns", nil).expectError(http.StatusUnauthorized, CodeUnauthorized)
		// Public routes need no key.
		ts.anonymous().doFull(http.MethodGet, "/healthz", nil).expect(http.StatusOK)
		ts.anonymous().doFull(http.MethodGet, "/readyz", nil).expect(http.StatusOK)
	})
}
