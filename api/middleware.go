package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/backlinkoutreach/outreach/internal/metrics"
	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// Context keys set by the middleware.
const (
	ctxRequestID = "request_id"
	ctxLogger    = "logger"
	ctxUser      = "user"
	ctxCampaign  = "campaign"
)

// HeaderRequestID carries the request id in both directions.
const HeaderRequestID = "X-Request-ID"

// requestIDs accepts a caller's X-Request-ID when it is short and plain,
// else makes one, and puts a logger carrying it in the context.
func requestIDs(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(HeaderRequestID)
		if !plainID(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(ctxRequestID, id)
		c.Set(ctxLogger, log.With("request_id", id))
		c.Header(HeaderRequestID, id)
		c.Next()
	}
}

func plainID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !plainIDRune(r) {
			return false
		}
	}
	return true
}

func plainIDRune(r rune) bool {
	return r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// accessLog writes one line per request, and feeds the observer (metrics).
func accessLog(observe func(method, route string, status int, d time.Duration)) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		d := time.Since(start)
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		if observe != nil {
			observe(c.Request.Method, route, status, d)
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		// The route template, not the path: a path may carry personal
		// data (DELETE /suppression/jane@example.com). An unmatched path
		// is logged, cut short, to see what was asked.
		attrs := []any{"method", metrics.MethodLabel(c.Request.Method), "route", route}
		if c.FullPath() == "" {
			p := c.Request.URL.Path
			if len(p) > 200 {
				p = strings.ToValidUTF8(p[:200], "") + "..."
			}
			attrs = append(attrs, "path", p)
		}
		attrs = append(attrs, "status", status, "duration_ms", float64(d.Microseconds())/1000, "bytes", c.Writer.Size())
		if u, ok := c.Get(ctxUser); ok {
			if user, ok := u.(models.User); ok {
				attrs = append(attrs, "user_id", user.ID)
			}
		}
		loggerFrom(c).Log(c.Request.Context(), level, "http request", attrs...)
	}
}

// recovery turns a panic into the 500 envelope and logs it.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if e, ok := r.(error); ok && errors.Is(e, http.ErrAbortHandler) {
					panic(r)
				}
				fail(c, fmt.Errorf("panic: %v", r))
			}
		}()
		c.Next()
	}
}

// limitBody refuses declared oversize bodies at once and caps the rest, so a
// handler reading past the limit gets *http.MaxBytesError (answered 413).
func limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			fail(c, &http.MaxBytesError{Limit: limit})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}

// authenticate requires a valid API key and stores its owner.
func (s *Server) authenticate() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			c.Header("WWW-Authenticate", `Bearer realm="backlink-outreach"`)
			fail(c, &httpError{
				status: http.StatusUnauthorized, code: CodeUnauthorized,
				message: "send a valid API key as Authorization: Bearer <key>",
			})
			return
		}
		u, err := store.Authenticate(c.Request.Context(), s.db, strings.TrimSpace(token))
		if errors.Is(err, models.ErrKeyNotFound) {
			c.Header("WWW-Authenticate", `Bearer realm="backlink-outreach", error="invalid_token"`)
			fail(c, &httpError{
				status: http.StatusUnauthorized, code: CodeUnauthorized,
				message: "the API key is unknown or revoked",
			})
			return
		}
		if err != nil {
			fail(c, err)
			return
		}
		c.Set(ctxUser, u)
		c.Next()
	}
}

// currentUser is the authenticated caller; routes behind authenticate only.
func currentUser(c *gin.Context) models.User { return resolved[models.User](c, ctxUser) }

// resolve is the middleware of a route group with a path parameter: find
// turns the parameter into the caller's row, kept under key for the
// handler, or answers find's error (a not-found error maps to the
// resource's own 404 code) before any handler reads the body.
func resolve[T any](key string, find func(c *gin.Context) (T, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		row, err := find(c)
		if err != nil {
			fail(c, err)
			return
		}
		c.Set(key, row)
		c.Next()
	}
}

// resolved is the row resolve (or authenticate) kept under key.
func resolved[T any](c *gin.Context, key string) T {
	return c.MustGet(key).(T) //nolint:forcetypeassert // set under this key with this type
}

// loadCampaign resolves :id to a campaign the caller owns, or answers 404
// BacklinkCampaignNotFoundError, before any handler looks at the body. Every
// route under /campaigns/:id goes through it: that is the ownership rule.
func (s *Server) loadCampaign() gin.HandlerFunc {
	return resolve(ctxCampaign, func(c *gin.Context) (models.Campaign, error) {
		return store.CampaignForUser(c.Request.Context(), s.db, currentUser(c).ID, c.Param("id"))
	})
}

// currentCampaign is the campaign loadCampaign resolved.
func currentCampaign(c *gin.Context) models.Campaign {
	return resolved[models.Campaign](c, ctxCampaign)
}
