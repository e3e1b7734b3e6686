package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/store"
)

// HealthResponse answers /healthz and /readyz.
type HealthResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, HealthResponse{Status: "ok"})
}

// readyz answers 200 only when every dependency answers; each check gets a
// short deadline so a hung dependency cannot hang the probe.
func (s *Server) readyz(c *gin.Context) {
	checks := append([]Check{{Name: "database", Run: func(ctx context.Context) error { return store.Ping(ctx, s.db) }}}, s.deps.Ready...)
	out := HealthResponse{Status: "ok", Checks: map[string]string{}}
	status := http.StatusOK
	for _, ch := range checks {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		err := ch.Run(ctx)
		cancel()
		if err != nil {
			out.Checks[ch.Name] = "unavailable"
			out.Status = "unavailable"
			status = http.StatusServiceUnavailable
			loggerFrom(c).WarnContext(c.Request.Context(), "readiness check failed", "check", ch.Name, "error", err)
			continue
		}
		out.Checks[ch.Name] = "ok"
	}
	c.JSON(status, out)
}
