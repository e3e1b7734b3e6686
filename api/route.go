package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Route is one documented endpoint. Every route is registered through
// Server.handle, which also feeds /openapi.json: a route cannot exist without
// its documentation, and a test checks that no route bypasses handle.
type Route struct {
	Method  string
	Path    string // relative to the group, gin syntax (":id")
	Summary string
	Tag     string
	// Request is a value of the JSON body type, nil for none.
	Request any
	// Response is a value of the success body type, nil for none.
	Response any
	// Status is the success status; 200 when zero.
	Status int
	// Accepted, when set, is a value of the body of a 202 the route answers
	// instead when its work goes on in the background.
	Accepted any
	// Query documents the query parameters.
	Query []QueryParam
	// Produces is the success media type; application/json when empty.
	Produces string
	// Consumes is the request media type; application/json when empty.
	Consumes string
	// MaxBody overrides the configured body limit (CSV import).
	MaxBody int64
	Handler gin.HandlerFunc

	fullPath string
	public   bool
}

// QueryParam documents one query parameter.
type QueryParam struct {
	Name, Type, Description string
}

// Routes returns the documented route table, full paths in gin syntax.
func (s *Server) Routes() []Route { return s.routes }

// FullPath is the route's path from the root, in gin syntax.
func (r Route) FullPath() string { return r.fullPath }

// Public reports whether the route needs no API key.
func (r Route) Public() bool { return r.public }

// handle registers a route into group g (one of s.public, s.authed,
// s.campaign) and records it for the OpenAPI document.
func (s *Server) handle(g *gin.RouterGroup, r Route) {
	limit := s.cfg.MaxBodyBytes
	if r.MaxBody > 0 {
		limit = r.MaxBody
	}
	r.fullPath = joinPath(g.BasePath(), r.Path)
	r.public = g == s.public
	if r.Status == 0 {
		r.Status = http.StatusOK
	}
	g.Handle(r.Method, r.Path, limitBody(limit), r.Handler)
	s.routes = append(s.routes, r)
}

// Public, Authed and Campaign let packages outside api (dev mode) register
// documented routes in the right group.
func (s *Server) Public(r Route) { s.handle(s.public, r) }

// Authed registers a route that needs an API key.
func (s *Server) Authed(r Route) { s.handle(s.authed, r) }

func joinPath(base, rel string) string {
	if rel == "" {
		return base
	}
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(rel, "/")
}
