package api

import (
	"fmt"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/backlinkoutreach/outreach/internal/metrics"
)

// metricsHandler serves the process registry in the Prometheus text format.
// A collector error still answers with what could be gathered: one broken
// series must not blind the whole scrape.
func (s *Server) metricsHandler() gin.HandlerFunc {
	h := promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      promErrorLog{s},
	})
	return func(c *gin.Context) { h.ServeHTTP(c.Writer, c.Request) }
}

// promErrorLog routes promhttp's gather errors into slog.
type promErrorLog struct{ s *Server }

func (l promErrorLog) Println(v ...any) { l.s.log.Error("metrics gather", "error", fmt.Sprint(v...)) }
