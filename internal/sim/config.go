package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-cc/switchboard/internal/config"
)

// ErrUsage is wrapped by flag and configuration errors.
var ErrUsage = errors.New("sim: usage")

// Dist is a log-normal distribution given by its median and sigma (the
// standard deviation of its logarithm); Sigma 0 is the constant Median.
type Dist struct {
	Median time.Duration `yaml:"median"`
	Sigma  float64       `yaml:"sigma"`
}

// Draw samples d.
func (d Dist) Draw(r *rand.Rand) time.Duration {
	if d.Sigma <= 0 {
		return d.Median
	}
	return time.Duration(float64(d.Median) * math.Exp(d.Sigma*r.NormFloat64()))
}

// Target is where inbound calls go in queue mode: an ACD queue or a
// routing point, and its share of the arrivals.
type Target struct {
	DNIS   string  `yaml:"dnis"`
	Weight float64 `yaml:"weight"`
	// Queue, for a routing point (a DNIS that is not one of Queues), is the
	// queue it sends calls to in the tenant the simulator writes (Tenant,
	// --write-config, --in-process): after RouteTimeout, waiting for an
	// external router until then (and asking for a treatment half way), or
	// at once by the queue strategy when RouteTimeout is 0. Against a
	// running server its own configuration decides.
	Queue        string        `yaml:"queue"`
	RouteTimeout time.Duration `yaml:"route-timeout"`
}

// Supervisor is a supervisor's DN and agent id.
type Supervisor struct {
	DN      string `yaml:"dn"`
	AgentID string `yaml:"agent"`
}

// Config is a simulated contact-centre day. Flags set the first group;
// the YAML file (--config) may set every field, flags win.
type Config struct {
	Agents   int           `yaml:"agents"`   // agents (default 20)
	Rate     float64       `yaml:"rate"`     // inbound calls per second, Poisson (default 0.5)
	Duration time.Duration `yaml:"duration"` // arrivals stop after it (default 1m)
	Seed     uint64        `yaml:"seed"`     // PCG seed (default 1)

	// AgentDNStart is the first agent DN; agent i (from 1) has DN
	// AgentDNStart+i-1 and id fmt.Sprintf(AgentIDFormat, i). Defaults
	// 1001 and "agent%d" (the demo tenant's).
	AgentDNStart  int          `yaml:"agent-dn-start"`
	AgentIDFormat string       `yaml:"agent-id-format"`
	Queues        []string     `yaml:"queues"`      // queues agents log in to (default 7000)
	Supervisors   []Supervisor `yaml:"supervisors"` // default 1100/super1 for up to 99 agents
	Trunk         string       `yaml:"trunk"`       // inbound trunk (default pstn)
	// Targets of inbound calls (queue mode, the default): the demo
	// tenant's queues 7000 and 7001 and routing points 5000 and 5001; the
	// switch's ACD picks the agent.
	Targets []Target `yaml:"targets"`
	// Direct (or no Targets): the simulator is the ACD instead: it offers
	// each call to the longest-ready agent's DN directly and keeps callers
	// waiting itself when none is ready.
	Direct bool `yaml:"direct"`

	AnswerDelay Dist `yaml:"answer-delay"` // ringing to answer (3s, 0.5)
	TalkTime    Dist `yaml:"talk-time"`    // (3m, 0.6)
	WrapUp      Dist `yaml:"wrap-up"`      // after-call work (20s, 0.5)
	Patience    Dist `yaml:"patience"`     // caller's wait before hanging up (45s, 0.8)
	ConsultTime Dist `yaml:"consult-time"` // consultation before completing (30s, 0.5)
	BreakTime   Dist `yaml:"break-time"`   // a not-ready break (5m, 0.4)
	MonitorTime Dist `yaml:"monitor-time"` // a supervisor's monitoring session (5m, 0.5)

	TransferRate   float64 `yaml:"transfer-rate"`   // share of answered calls transferred (0.08)
	TwoStepShare   float64 `yaml:"two-step-share"`  // of transfers, share made by consultation (0.5)
	ConferenceRate float64 `yaml:"conference-rate"` // share of answered calls conferenced (0.04)
	// ExternalShare is the share of transfers that go to an external
	// number through the trunk (EVENTS.md 5.15; 0.25): the transferred
	// caller then talks to the network and leaves the switch's view.
	ExternalShare   float64 `yaml:"external-share"`
	CallerHangsUp   float64 `yaml:"caller-hangs-up"`   // share of calls the caller ends (0.5)
	BreaksPerHour   float64 `yaml:"breaks-per-hour"`   // per agent (1)
	MonitorsPerHour float64 `yaml:"monitors-per-hour"` // per supervisor (6)
	// LoginSpread: agents log in during the first LoginSpread of Duration
	// and out during its last LoginSpread (0.1); 0 logs everyone in at 0
	// and nobody out.
	LoginSpread float64 `yaml:"login-spread"`
	// LogoutAtEnd logs every agent out once the day has drained.
	LogoutAtEnd bool `yaml:"logout-at-end"`
	// ServiceLevel is the answer-time target of the service level (20s).
	ServiceLevel time.Duration `yaml:"service-level"`
	// Drain bounds the wait for calls in progress after Duration (default
	// unlimited in-process, 5m against a server).
	Drain time.Duration `yaml:"drain"`
}

// Default returns the defaults.
func Default() Config {
	return Config{
		Agents: 20, Rate: 0.5, Duration: time.Minute, Seed: 1,
		AgentDNStart: 1001, AgentIDFormat: "agent%d", Queues: []string{"7000", "7001"}, Trunk: "pstn",
		// The demo tenant's: queues sales and support, routing point 5000
		// (an external router's, falling back to 7000 after 10 s) and 5001
		// (to 7001 by strategy).
		Targets: []Target{{DNIS: "7000", Weight: 0.4}, {DNIS: "7001", Weight: 0.3},
			{DNIS: "5000", Weight: 0.1, Queue: "7000", RouteTimeout: 10 * time.Second},
			{DNIS: "5001", Weight: 0.2, Queue: "7001"}},
		AnswerDelay:  Dist{3 * time.Second, 0.5},
		TalkTime:     Dist{3 * time.Minute, 0.6},
		WrapUp:       Dist{20 * time.Second, 0.5},
		Patience:     Dist{45 * time.Second, 0.8},
		ConsultTime:  Dist{30 * time.Second, 0.5},
		BreakTime:    Dist{5 * time.Minute, 0.4},
		MonitorTime:  Dist{5 * time.Minute, 0.5},
		TransferRate: 0.08, TwoStepShare: 0.5, ConferenceRate: 0.04, CallerHangsUp: 0.5, ExternalShare: 0.25,
		BreaksPerHour: 1, MonitorsPerHour: 6, LoginSpread: 0.1, ServiceLevel: 20 * time.Second,
	}
}

// LoadConfigFile reads YAML over c (fields it does not set keep their value).
func LoadConfigFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUsage, path, err)
	}
	return nil
}

// Validate checks c and fills the derived defaults.
func (c *Config) Validate() error {
	switch {
	case c.Agents < 1:
		return fmt.Errorf("%w: agents %d: want at least 1", ErrUsage, c.Agents)
	case c.Rate < 0:
		return fmt.Errorf("%w: rate %v is negative", ErrUsage, c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("%w: duration %v: want > 0", ErrUsage, c.Duration)
	case c.LoginSpread < 0 || c.LoginSpread >= 0.5:
		return fmt.Errorf("%w: login-spread %v: want 0 <= x < 0.5", ErrUsage, c.LoginSpread)
	case c.Trunk == "":
		return fmt.Errorf("%w: trunk is empty", ErrUsage)
	}
	for _, p := range []float64{c.TransferRate, c.TwoStepShare, c.ConferenceRate, c.CallerHangsUp, c.ExternalShare} {
		if p < 0 || p > 1 {
			return fmt.Errorf("%w: rates and shares must be within [0, 1], got %v", ErrUsage, p)
		}
	}
	if c.TransferRate+c.ConferenceRate > 1 {
		return fmt.Errorf("%w: transfer-rate + conference-rate > 1", ErrUsage)
	}
	for _, t := range c.Targets {
		if t.DNIS == "" || t.Weight < 0 {
			return fmt.Errorf("%w: target %q: want a DNIS and a weight >= 0", ErrUsage, t.DNIS)
		}
	}
	if c.AgentDNStart <= 0 {
		c.AgentDNStart = 1001
	}
	if c.AgentIDFormat == "" {
		c.AgentIDFormat = "agent%d"
	}
	if c.Supervisors == nil && c.Agents < 99 {
		c.Supervisors = []Supervisor{{DN: "1100", AgentID: "super1"}}
	}
	if c.ServiceLevel <= 0 {
		c.ServiceLevel = 20 * time.Second
	}
	return nil
}

// AgentDN and AgentID of agent i (from 0).
func (c *Config) AgentDN(i int) string { return strconv.Itoa(c.AgentDNStart + i) }
func (c *Config) AgentID(i int) string { return fmt.Sprintf(c.AgentIDFormat, i+1) }

// Tenant returns a tenant configuration the simulation fits: its agents'
// extensions and ids, the supervisors, the queues agents log in to (as
// acd-queues), the routing points among the Targets and the trunk. The
// in-process mode runs it; --write-config writes it for serve (ServeYAML).
func (c *Config) Tenant(id, token string) config.Tenant {
	t := config.Tenant{ID: id, Tokens: []string{token}}
	for i := 0; i < c.Agents; i++ {
		t.DNs = append(t.DNs, config.DN{Number: c.AgentDN(i), Type: config.Extension})
		t.Agents = append(t.Agents, config.Agent{ID: c.AgentID(i)})
	}
	for _, s := range c.Supervisors {
		t.DNs = append(t.DNs, config.DN{Number: s.DN, Type: config.Extension, Name: "supervisor"})
		t.Supervisors = append(t.Supervisors, config.Supervisor{Agent: config.Agent{ID: s.AgentID}})
	}
	for _, q := range c.Queues {
		t.DNs = append(t.DNs, config.DN{Number: q, Type: config.ACDQueue, Queue: &config.Queue{WrapUpTime: config.WrapUpNone()}})
	}
	for _, rp := range c.routingPoints() {
		r := &config.Routing{Strategy: &config.Strategy{Type: config.StrategyQueue, Queue: rp.Queue}}
		if rp.RouteTimeout > 0 {
			r = &config.Routing{RouteTimeout: config.D(rp.RouteTimeout), DefaultDestination: rp.Queue,
				TreatmentAfter: config.D(rp.RouteTimeout / 2)}
		}
		t.DNs = append(t.DNs, config.DN{Number: rp.DNIS, Type: config.RoutingPoint, Routing: r})
	}
	t.DNs = append(t.DNs, config.DN{Number: c.Trunk, Type: config.Trunk, Trunk: &config.TrunkSettings{}})
	return t
}

// checkTenant reports what keeps Tenant from fitting the day: a routing
// point target must name one of Queues as its queue.
func (c *Config) checkTenant() error {
	for _, rp := range c.routingPoints() {
		if !slices.Contains(c.Queues, rp.Queue) {
			return fmt.Errorf("%w: target %q is not one of the queues %v: as a routing point of the written tenant it needs queue: one of them", ErrUsage, rp.DNIS, c.Queues)
		}
	}
	return nil
}

// routingPoints are the Targets that are not queues, each once.
func (c *Config) routingPoints() []Target {
	var rps []Target
	for _, t := range c.Targets {
		if !c.Direct && !slices.Contains(c.Queues, t.DNIS) && !slices.ContainsFunc(rps, func(r Target) bool { return r.DNIS == t.DNIS }) {
			rps = append(rps, t)
		}
	}
	return rps
}

// ServeYAML is Tenant as a serve configuration file.
func (c *Config) ServeYAML(id, token string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by switchboard sim --write-config: %d agents\ntenants:\n  - id: %q\n    tokens: [%q]\n    dns:\n", c.Agents, id, token)
	for i := 0; i < c.Agents; i++ {
		fmt.Fprintf(&b, "      - {number: %q, type: extension}\n", c.AgentDN(i))
	}
	for _, s := range c.Supervisors {
		fmt.Fprintf(&b, "      - {number: %q, type: extension, name: supervisor}\n", s.DN)
	}
	for _, q := range c.Queues {
		fmt.Fprintf(&b, "      - {number: %q, type: acd-queue}\n", q)
	}
	for _, rp := range c.routingPoints() {
		if rp.RouteTimeout > 0 {
			fmt.Fprintf(&b, "      - {number: %q, type: routing-point, routing: {route-timeout: %s, default-destination: %q, treatment-after: %s}}\n",
				rp.DNIS, rp.RouteTimeout, rp.Queue, rp.RouteTimeout/2)
		} else {
			fmt.Fprintf(&b, "      - {number: %q, type: routing-point, routing: {strategy: {type: queue, queue: %q}}}\n", rp.DNIS, rp.Queue)
		}
	}
	fmt.Fprintf(&b, "      - {number: %q, type: trunk}\n    agents:\n", c.Trunk)
	for i := 0; i < c.Agents; i++ {
		fmt.Fprintf(&b, "      - {id: %q}\n", c.AgentID(i))
	}
	if len(c.Supervisors) > 0 {
		b.WriteString("    supervisors:\n")
		for _, s := range c.Supervisors {
			fmt.Fprintf(&b, "      - {id: %q}\n", s.AgentID)
		}
	}
	return b.String()
}
