package web

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"healthcode"
)

// serverMetrics are what /metrics serves, in a registry of the server's own.
type serverMetrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec   // by route and status code
	durations *prometheus.HistogramVec // by route
	shed      prometheus.Counter
	limited   *prometheus.CounterVec // by route
	checkIns  *prometheus.CounterVec // stored, by mode
	traces    prometheus.Histogram
}

func newMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "healthcode_http_requests_total",
			Help: "HTTP requests answered, by route and status code."}, []string{"route", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "healthcode_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route (shed requests are not included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10}}, []string{"route"}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "healthcode_http_shed_total",
			Help: "Requests answered 503 because the server was at capacity."}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "healthcode_http_rate_limited_total",
			Help: "Requests answered 429 because the client called an expensive route too often, by route."}, []string{"route"}),
		checkIns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "healthcode_checkins_stored_total",
			Help: "Check-ins stored, by mode (checkpoint upload or place code)."}, []string{"mode"}),
		traces: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "healthcode_trace_duration_seconds",
			Help: "Time to trace a case.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
	}
	sc := &statusCounter{store: s.store, clock: s.clock}
	m.registry.MustRegister(m.requests, m.durations, m.shed, m.limited, m.checkIns, m.traces,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_http_in_flight",
			Help: "Requests being served now."}, func() float64 { return float64(s.shedder.busy()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_http_waiting",
			Help: "Requests waiting for a free slot (the queue)."}, func() float64 { return float64(s.shedder.waiting.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_http_writes_in_flight",
			Help: "API requests that write, being served now (at most --max-writes)."}, func() float64 { return float64(s.writers.busy()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "healthcode_http_writes_waiting",
			Help: "API requests that write, waiting for a turn."}, func() float64 { return float64(s.writers.waiting.Load()) }),
		sc)
	return m
}

// getMetrics serves /metrics.
func (s *Server) getMetrics(w http.ResponseWriter, r *http.Request, _ *healthcode.Actor) error {
	promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

// statusWriters are reused: one is taken for every API request, and the
// display path answers tens of thousands a second.
var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

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

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routeMetrics are one route's series, looked up once: the display path
// answers tens of thousands of requests a second.
type routeMetrics struct {
	route    string
	requests *prometheus.CounterVec
	ok       prometheus.Counter // the requests answered 200
	duration prometheus.Observer
}

func (m *serverMetrics) forRoute(route string) *routeMetrics {
	return &routeMetrics{route: route, requests: m.requests, ok: m.requests.WithLabelValues(route, "200"),
		duration: m.durations.WithLabelValues(route)}
}

// observe records one answered request.
func (rm *routeMetrics) observe(code int, took time.Duration) {
	if code == 0 || code == http.StatusOK {
		rm.ok.Inc()
	} else {
		rm.requests.WithLabelValues(rm.route, strconv.Itoa(code)).Inc()
	}
	rm.duration.Observe(took.Seconds())
}

// statusCounter reports statuses by colour and overdue appeals, counted at
// most every 30 s (a scan of the statuses table and the open appeals).
type statusCounter struct {
	store   healthcode.Store
	clock   healthcode.Clock
	mu      sync.Mutex
	at      time.Time
	counts  map[healthcode.Color]int
	overdue int
	pending int // contact notices waiting in the outbox
	open    int // received contact proposals waiting for a tracer
}

var statusesDesc = prometheus.NewDesc("healthcode_statuses", "Residents by the colour of their stored status (counted at most every 30 s).", []string{"color"}, nil)

var overdueDesc = prometheus.NewDesc("healthcode_appeals_overdue", "Open appeals past their deadline (counted at most every 30 s).", nil, nil)

var noticesPendingDesc = prometheus.NewDesc("healthcode_contact_notices_pending",
	"Contact notices to other regions neither delivered nor refused yet (counted at most every 30 s).", nil, nil)

var proposalsOpenDesc = prometheus.NewDesc("healthcode_contact_proposals_open",
	"Contact proposals from other regions waiting for a tracer (counted at most every 30 s).", nil, nil)

func (c *statusCounter) Describe(ch chan<- *prometheus.Desc) {
	ch <- statusesDesc
	ch <- overdueDesc
	ch <- noticesPendingDesc
	ch <- proposalsOpenDesc
}

func (c *statusCounter) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > 30*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		counts, err := c.store.CountStatuses(ctx)
		var open []healthcode.Appeal
		if err == nil {
			open, err = c.store.AppealQueue(ctx, healthcode.AppealOpen)
		}
		var pending, proposals int
		if err == nil {
			pending, err = c.store.CountPendingNotices(ctx)
		}
		if err == nil {
			proposals, err = c.store.CountOpenProposals(ctx)
		}
		cancel()
		if err == nil {
			c.pending, c.open = pending, proposals
		}
		if err == nil {
			c.counts, c.at = counts, time.Now()
			c.overdue = 0
			for i := range open {
				if open[i].Overdue(c.clock.Now()) {
					c.overdue++
				}
			}
		}
	}
	for _, color := range []healthcode.Color{healthcode.Green, healthcode.Yellow, healthcode.Red} {
		ch <- prometheus.MustNewConstMetric(statusesDesc, prometheus.GaugeValue, float64(c.counts[color]), string(color))
	}
	ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(c.overdue))
	ch <- prometheus.MustNewConstMetric(noticesPendingDesc, prometheus.GaugeValue, float64(c.pending))
	ch <- prometheus.MustNewConstMetric(proposalsOpenDesc, prometheus.GaugeValue, float64(c.open))
}
