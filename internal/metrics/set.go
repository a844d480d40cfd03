package metrics

import (
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Set is switchboard's metrics, registered in one Prometheus registry
// together with the Go runtime and process collectors. Its update methods
// are safe for concurrent use; a nil *Set (metrics off) makes them do
// nothing.
type Set struct {
	// Registry holds every family /metrics serves.
	Registry *prometheus.Registry

	eventsProduced *prometheus.CounterVec   // topic, tenant
	eventsFailed   *prometheus.CounterVec   // topic, tenant
	ackLatency     prometheus.Histogram     // (none)
	apiLatency     *prometheus.HistogramVec // method, route, code
	apiRateLimited *prometheus.CounterVec   // tenant
	sipTx          *prometheus.CounterVec   // method
	sipResp        *prometheus.CounterVec   // method, status
	httpRefused    *prometheus.CounterVec   // reason
	httpAuthFailed prometheus.Counter       // (none)
	sipRefused     *prometheus.CounterVec   // reason
	sipAuthFailed  prometheus.Counter       // (none)
}

// Metric names, for documentation and tests.
const (
	NameEventsProduced   = "switchboard_events_produced_total"
	NameEventsFailed     = "switchboard_events_failed_total"
	NameKafkaAckLatency  = "switchboard_kafka_ack_latency_seconds"
	NameKafkaBuffered    = "switchboard_kafka_buffered_records"
	NameKafkaBufferLimit = "switchboard_kafka_buffer_limit_records"
	NameJournalSize      = "switchboard_journal_size_bytes"
	NameJournalMaxSize   = "switchboard_journal_max_size_bytes"
	NamePublishLag       = "switchboard_publish_lag_records"
	NamePublishLagAge    = "switchboard_publish_lag_seconds"
	NameUnhealthy        = "switchboard_tenant_unhealthy"
	NameJournalFsyncs    = "switchboard_journal_fsyncs_total"
	NameJournalFsyncTime = "switchboard_journal_fsync_seconds_total"
	NameJournalMaxFsync  = "switchboard_journal_fsync_max_seconds"
	NameJournalFailures  = "switchboard_journal_failures_total"
	NameJournalHeals     = "switchboard_journal_heals_total"
	NamePublishPauses    = "switchboard_publish_pauses_total"
	NameAPILatency       = "switchboard_http_request_duration_seconds"
	NameAPIRateLimited   = "switchboard_http_rate_limited_total"
	NameActiveCalls      = "switchboard_active_calls"
	NameAgentsLoggedIn   = "switchboard_agents_logged_in"
	NameSIPTransactions  = "switchboard_sip_transactions_total"
	NameSIPResponses     = "switchboard_sip_responses_total"
	NameGoroutines       = "switchboard_goroutines"
	NameHTTPRefused      = "switchboard_http_refused_total"
	NameHTTPAuthFailures = "switchboard_http_auth_failures_total"
	NameHTTPConnsOpen    = "switchboard_http_connections_open"
	NameHTTPStreamsOpen  = "switchboard_http_event_streams_open"
	NameSIPRefused       = "switchboard_sip_refused_total"
	NameSIPAuthFailures  = "switchboard_sip_auth_failures_total"
	// SIP trunks (scrape-time, app): 1/0 by tenant and trunk.
	NameSIPTrunkRegistered = "switchboard_sip_trunk_registered"
	NameSIPTrunkUp         = "switchboard_sip_trunk_up"
	NameFDLimit            = "switchboard_fd_limit"
	NameStartTime          = "switchboard_start_time_seconds"
	// Statistics per configured queue and routing point (internal/stats,
	// docs/STATS.md): label values are configured tenants and queues, and
	// the fixed outcome and state sets of internal/stats (Outcomes,
	// AgentStates).
	NameStatsQueueWaiting     = "switchboard_stats_queue_waiting_calls"
	NameStatsQueueLongestWait = "switchboard_stats_queue_longest_wait_seconds"
	NameStatsQueueCallsToday  = "switchboard_stats_queue_calls_today"
	NameStatsQueueAgents      = "switchboard_stats_queue_agents"
	NameStatsQueueSLToday     = "switchboard_stats_queue_service_level_ratio_today"
	NameStatsQueueASAToday    = "switchboard_stats_queue_speed_of_answer_avg_seconds_today"
	NameStatsQueueAHTToday    = "switchboard_stats_queue_handle_time_avg_seconds_today"

	NameBrokerRetainedBytes   = "switchboard_broker_retained_bytes"
	NameBrokerRetainedRecords = "switchboard_broker_retained_records"
	// Cluster mode (scrape-time gauges registered by app).
	NameClusterShardServed  = "switchboard_cluster_shard_served"
	NameClusterShardTxns    = "switchboard_cluster_shard_transactions"
	NameClusterShardSteps   = "switchboard_cluster_shard_steps"
	NameClusterShardEvents  = "switchboard_cluster_shard_events"
	NameClusterLeaseAge     = "switchboard_cluster_read_lease_age_seconds"
	NameClusterLeaseRefused = "switchboard_cluster_read_lease_refused_total"
)

// NewSet registers switchboard's metrics and the Go runtime (go_*) and
// process (process_*) collectors in a new registry. The scrape-time
// families (journal, publisher buffer, calls and agents, the embedded
// broker's retained records) are added with GaugeFunc by whoever owns the
// state (app).
func NewSet() *Set {
	s := &Set{Registry: prometheus.NewRegistry()}
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(s.Registry)
	s.eventsProduced = f.NewCounterVec(prometheus.CounterOpts{Name: NameEventsProduced,
		Help: "Events Kafka acknowledged, by topic (unprefixed) and tenant."}, []string{"topic", "tenant"})
	s.eventsFailed = f.NewCounterVec(prometheus.CounterOpts{Name: NameEventsFailed,
		Help: "Events whose publishing failed permanently, by topic and tenant."}, []string{"topic", "tenant"})
	s.ackLatency = f.NewHistogram(prometheus.HistogramOpts{Name: NameKafkaAckLatency,
		Help:    "Time from handing a batch of events to the Kafka producer to its acknowledgement (every record of the batch).",
		Buckets: LatencyBuckets})
	s.apiLatency = f.NewHistogramVec(prometheus.HistogramOpts{Name: NameAPILatency,
		Help:    "CTI API request duration by method, route pattern and status class (2xx, 4xx...). WebSocket streams are counted when they end.",
		Buckets: LatencyBuckets}, []string{"method", "route", "code"})
	s.apiRateLimited = f.NewCounterVec(prometheus.CounterOpts{Name: NameAPIRateLimited,
		Help: "CTI API requests refused with 429 by the per-token rate limit, by tenant."}, []string{"tenant"})
	s.sipTx = f.NewCounterVec(prometheus.CounterOpts{Name: NameSIPTransactions,
		Help: "SIP server transactions (requests received), by method."}, []string{"method"})
	s.sipResp = f.NewCounterVec(prometheus.CounterOpts{Name: NameSIPResponses,
		Help: "SIP final responses sent, by request method and status code."}, []string{"method", "status"})
	s.httpRefused = f.NewCounterVec(prometheus.CounterOpts{Name: NameHTTPRefused,
		Help: "CTI API connections and requests refused by a hardening limit, by reason (conn_limit, conn_limit_addr, auth_blocked, stream_limit, ticket_limit, slow_stream, route_rate_limited)."}, []string{"reason"})
	s.httpAuthFailed = f.NewCounter(prometheus.CounterOpts{Name: NameHTTPAuthFailures,
		Help: "CTI API requests answered 401 (no or a wrong token or ticket)."})
	s.sipRefused = f.NewCounterVec(prometheus.CounterOpts{Name: NameSIPRefused,
		Help: "SIP requests refused or not answered by a hardening limit, by reason (blocked, connections, response_rate, replay, stale_nonce, unauthenticated_external, version)."}, []string{"reason"})
	s.sipAuthFailed = f.NewCounter(prometheus.CounterOpts{Name: NameSIPAuthFailures,
		Help: "SIP requests whose digest credentials were wrong (wrong password or an unknown user)."})
	start := float64(time.Now().UnixMicro()) / 1e6
	s.GaugeFunc(NameStartTime, "Unix time the process started its metrics, in seconds.", nil,
		func(emit Emit) { emit(start) })
	s.GaugeFunc(NameGoroutines, "Goroutines that currently exist.", nil,
		func(emit Emit) { emit(float64(runtime.NumGoroutine())) })
	return s
}

// NewRuntimeSet is a set with only the Go runtime and process collectors,
// for a process that is not `serve` and adds its own families with
// GaugeFunc (`switchboard stats`); the recording methods (EventsPublished
// and the like) must not be called on it.
func NewRuntimeSet() *Set {
	s := &Set{Registry: prometheus.NewRegistry()}
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// EventsPublished records the outcome of events of one topic and tenant.
func (s *Set) EventsPublished(topic, tenant string, n int, ok bool) {
	if s == nil || n <= 0 {
		return
	}
	if ok {
		s.eventsProduced.WithLabelValues(topic, tenant).Add(float64(n))
	} else {
		s.eventsFailed.WithLabelValues(topic, tenant).Add(float64(n))
	}
}

// KafkaAck records how long a batch took to be acknowledged.
func (s *Set) KafkaAck(d time.Duration) {
	if s != nil {
		s.ackLatency.Observe(d.Seconds())
	}
}

// APIRequest records one served API request. A method other than the
// standard ones is counted as "other". route is the matched pattern
// ("POST /v1/tenants/{tenant}/calls" gives method POST, route
// /v1/tenants/{tenant}/calls), never the raw path, so that the label set
// stays bounded.
func (s *Set) APIRequest(method, route string, status int, d time.Duration) {
	if s == nil {
		return
	}
	s.apiLatency.WithLabelValues(httpMethod(method), route, statusClass(status)).Observe(d.Seconds())
}

// httpMethod bounds the method label: a client may send any token as a
// method, and each would otherwise become a series of its own.
func httpMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return m
	}
	return "other"
}

// APIRateLimited counts one request refused with 429.
func (s *Set) APIRateLimited(tenant string) {
	if s != nil {
		s.apiRateLimited.WithLabelValues(tenant).Inc()
	}
}

// HTTPRefused counts one connection or request refused by a hardening
// limit of the CTI API. reason is one of a fixed set (see the help text).
func (s *Set) HTTPRefused(reason string) {
	if s != nil {
		s.httpRefused.WithLabelValues(reason).Inc()
	}
}

// HTTPAuthFailure counts one request answered 401.
func (s *Set) HTTPAuthFailure() {
	if s != nil {
		s.httpAuthFailed.Inc()
	}
}

// SIPRefused counts one SIP request refused (or left unanswered) by a
// hardening limit. reason is one of a fixed set (see the help text).
func (s *Set) SIPRefused(reason string) {
	if s != nil {
		s.sipRefused.WithLabelValues(reason).Inc()
	}
}

// SIPAuthFailure counts one request with wrong digest credentials.
func (s *Set) SIPAuthFailure() {
	if s != nil {
		s.sipAuthFailed.Inc()
	}
}

// SIPTransaction counts one SIP request received (a server transaction),
// by method (INVITE, REGISTER, BYE...). For internal/sipfront.
func (s *Set) SIPTransaction(method string) {
	if s != nil {
		s.sipTx.WithLabelValues(sipMethod(method)).Inc()
	}
}

// SIPResponse counts one final response sent to a request of method. For
// internal/sipfront.
func (s *Set) SIPResponse(method string, status int) {
	if s == nil {
		return
	}
	st := "other"
	if status >= 100 && status <= 699 {
		st = strconv.Itoa(status)
	}
	s.sipResp.WithLabelValues(sipMethod(method), st).Inc()
}

// sipMethod bounds the method label to the methods SIP defines.
func sipMethod(m string) string {
	switch m {
	case "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "SUBSCRIBE",
		"NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE":
		return m
	}
	return "other"
}

func statusClass(status int) string {
	switch {
	case status >= 100 && status < 200:
		return "1xx"
	case status < 300 && status >= 200:
		return "2xx"
	case status < 400 && status >= 300:
		return "3xx"
	case status < 500 && status >= 400:
		return "4xx"
	case status < 600 && status >= 500:
		return "5xx"
	}
	return "other"
}
