package api

import "net/http"

// registerRoutes is the whole route table. Campaign-scoped routes go into
// s.campaign, whose middleware answers 404 BacklinkCampaignNotFoundError for
// a campaign the caller does not own before any handler runs.
func (s *Server) registerRoutes() {
	// Operations.
	s.handle(s.public, Route{Method: http.MethodGet, Path: "/healthz", Summary: "process is up", Tag: "operations",
		Response: HealthResponse{}, Handler: s.healthz})
	s.handle(s.public, Route{Method: http.MethodGet, Path: "/readyz", Summary: "database (and Temporal) reachable", Tag: "operations",
		Response: HealthResponse{}, Handler: s.readyz})
	s.handle(s.public, Route{Method: http.MethodGet, Path: "/openapi.json", Summary: "this API as OpenAPI 3.1", Tag: "operations",
		Response: map[string]any{}, Handler: s.serveOpenAPI})
	s.handle(s.public, Route{Method: http.MethodGet, Path: "/metrics", Summary: "Prometheus metrics (engine, HTTP, Temporal SDK, Go runtime)", Tag: "operations",
		Response: "", Produces: "text/plain; version=0.0.4", Handler: s.metricsHandler()})
}
