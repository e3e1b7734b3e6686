// Package api is the HTTP layer: routes, handlers, request and response
// DTOs, and the mapping of domain errors onto the JSON error envelope. It
// reaches workflows only through the Temporal client.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/config"
)

// BasePath prefixes every authenticated route (SPEC §4).
const BasePath = "/api/v1/backlink-outreach"

// Check is one readiness probe: a dependency that must answer for the
// service to be ready.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Deps is what the HTTP layer needs from the rest of the process.
type Deps struct {
	DB     *gorm.DB
	Config config.Config
	Log    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Engine starts and signals workflows; nil only in HTTP-layer tests.
	Engine Engine
	// Ready lists extra readiness checks beside the database.
	Ready []Check
	// ObserveHTTP, when set, receives every request's route, status and
	// duration (the metrics registry plugs in here).
	ObserveHTTP func(method, route string, status int, d time.Duration)
	// Extra registers more routes (dev mode); it receives the server so the
	// routes are documented like any other.
	Extra []func(s *Server)
}

// Server holds the handlers' dependencies and the route table.
type Server struct {
	db     *gorm.DB
	cfg    config.Config
	log    *slog.Logger
	now    func() time.Time
	deps   Deps
	engine *gin.Engine
	routes []Route
	// Groups that handlers register into.
	public   *gin.RouterGroup
	authed   *gin.RouterGroup
	campaign *gin.RouterGroup
}

// New builds the router with every route registered.
func New(d Deps) *Server {
	gin.SetMode(gin.ReleaseMode)
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{db: d.DB, cfg: d.Config, log: d.Log, now: d.Now, deps: d}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	// Route on the path as sent, so that a value with an encoded "/"
	// (DELETE /suppression/sales%2Fuk@shop.example) is one path segment;
	// path values are unescaped all the same.
	e.UseRawPath = true
	e.Use(requestIDs(d.Log), accessLog(d.ObserveHTTP), recovery())
	e.NoRoute(func(c *gin.Context) {
		fail(c, &httpError{status: http.StatusNotFound, code: CodeNotFound, message: "no such route: " + c.Request.URL.Path})
	})
	e.NoMethod(func(c *gin.Context) {
		fail(c, &httpError{
			status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed,
			message: c.Request.Method + " is not allowed on " + c.Request.URL.Path,
		})
	})
	s.engine = e
	s.public = e.Group("")
	s.authed = e.Group(BasePath)
	s.authed.Use(s.authenticate())
	s.campaign = s.authed.Group("/campaigns/:id")
	s.campaign.Use(s.loadCampaign())
	s.registerRoutes()
	for _, extra := range d.Extra {
		extra(s)
	}
	return s
}

// Handler is the http.Handler serving the API.
func (s *Server) Handler() http.Handler { return s.engine }

// Engine exposes the gin engine (tests walk its routes).
func (s *Server) Engine() *gin.Engine { return s.engine }

// HTTPServer wraps the handler in an http.Server with timeouts, so slow or
// idle clients cannot hold connections forever.
func HTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // CSV imports of 100,000 rows
		WriteTimeout:      5 * time.Minute, // streaming exports
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
	}
}
