package idp

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, on a registry of its own
// (no global state: two servers in one process do not collide).
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	grants        *prometheus.CounterVec
	reuseDetected prometheus.Counter
	rotationRaces prometheus.Counter
	loginFailures prometheus.Counter
	throttled     prometheus.Counter
	refreshCalls  prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_idp_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_idp_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_idp_grants_total", Help: "Token grants by type and outcome.",
		}, []string{"grant", "outcome"}),
		reuseDetected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_idp_refresh_token_reuse_total", Help: "Refresh-token reuse detections (family revoked).",
		}),
		rotationRaces: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_idp_refresh_rotation_races_total", Help: "Concurrent rotations of one token answered from the grace record.",
		}),
		loginFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_idp_login_failures_total", Help: "Failed password logins.",
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_idp_throttled_total", Help: "Requests refused by per-IP throttling.",
		}),
		refreshCalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_idp_refresh_requests_total", Help: "Refresh requests (token endpoint and /api/jwt/refresh).",
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.grants, m.reuseDetected, m.rotationRaces,
		m.loginFailures, m.throttled, m.refreshCalls,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// statusWriter records the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument wraps a route's handler with metrics and panic recovery: a
// panic is a bug, but the client still gets a JSON 500, never a dropped
// connection.
func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in handler", "route", route, "panic", p)
				if sw.code == 0 {
					writeOAuthError(sw, errServer())
				}
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		h(sw, r)
	})
}
