package config

import (
	"time"
	_ "time/tzdata" // tenant time zones resolve on machines without a zone database
)

// File is a whole configuration file.
type File struct {
	// Server is the id of this switchboard node, written as Event.Server.
	// Empty lets the application choose (for example the host name).
	Server  string   `yaml:"server"`
	Tenants []Tenant `yaml:"tenants"`

	// name is the file name used in error messages ("" for Demo or a File
	// built in Go); lines maps a field path to its line in the file.
	name  string
	lines map[string]int
	// dir is the configuration file's directory: media files are
	// relative to it ("" for Parse: the working directory).
	dir string
}

// Tenant is one tenant: its id (the CustomerID of its events and the first
// part of its record keys), API tokens, DNs, agents and supervisors.
type Tenant struct {
	ID string `yaml:"id"`
	// Tokens are API bearer tokens of this tenant in plain text (accepted,
	// with a warning at start: prefer TokenHashes). A token belongs to
	// exactly one tenant.
	Tokens []string `yaml:"tokens"`
	// TokenHashes are API tokens kept as their hashes, "sha256:" and 64
	// lowercase hex digits (`switchboard hash-token`); see tokens.go.
	TokenHashes []string `yaml:"token-hashes"`
	// RateLimit is the per-token request limit of this tenant's API
	// tokens; nil: serve's --api-rate and --api-burst.
	RateLimit   *RateLimit   `yaml:"rate-limit"`
	Defaults    Defaults     `yaml:"defaults"`
	DNs         []DN         `yaml:"dns"`
	Agents      []Agent      `yaml:"agents"`
	Supervisors []Supervisor `yaml:"supervisors"`
	// Media: what SIP callers hear while they wait (media.go); nil: nothing.
	Media *Media `yaml:"media"`
	// FeatureCodes override serve's --sip-feature-codes for this
	// tenant's phones (features.go); nil keeps them.
	FeatureCodes *FeatureCodes `yaml:"feature-codes"`
	// TimeZone is the tenant's IANA time zone: its statistics' day starts
	// at midnight there (docs/STATS.md). Default UTC.
	TimeZone string `yaml:"time-zone"`
}

// Location resolves the tenant's TimeZone (UTC when empty).
func (t *Tenant) Location() (*time.Location, error) {
	if t.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(t.TimeZone)
}

// Defaults are tenant-wide settings that DNs, queues and agents may override.
type Defaults struct {
	// NoAnswerTimeout is how long a call rings at a DN before no-answer
	// handling (forwarding on no answer, RONA for ACD calls). 0: never.
	NoAnswerTimeout Duration `yaml:"no-answer-timeout"`
	// WrapUpTime is the after-call work of an agent at the end of an ACD
	// call when neither the queue nor the agent sets one.
	WrapUpTime WrapUp `yaml:"wrap-up-time"`
	// RONA is what happens to an agent who does not answer an ACD call
	// in time (EVENTS.md 5.16) when neither the queue nor the agent sets
	// it: one of RONAPolicies; "" is "not-ready".
	RONA string `yaml:"rona"`
	// SIPPassword is the digest password of extensions and ACD positions
	// that do not set their own.
	SIPPassword string `yaml:"sip-password"`
	// MaxContacts is how many devices (SIP contacts) an extension or ACD
	// position may register at once when it does not set its own; 0:
	// sipfront's default (5).
	MaxContacts int `yaml:"max-contacts"`
}

// DNType is the type of a DN.
type DNType string

// The DN types.
const (
	Extension    DNType = "extension"
	ACDPosition  DNType = "acd-position"
	ACDQueue     DNType = "acd-queue"
	RoutingPoint DNType = "routing-point"
	Trunk        DNType = "trunk"
)

// DNTypes lists the valid DN types in the order of error messages.
var DNTypes = []DNType{Extension, ACDPosition, ACDQueue, RoutingPoint, Trunk}

// Valid reports whether t is one of DNTypes.
func (t DNType) Valid() bool {
	for _, v := range DNTypes {
		if t == v {
			return true
		}
	}
	return false
}

// IsPhone reports whether DNs of this type are phones an agent can log in on
// (extension or ACD position).
func (t DNType) IsPhone() bool { return t == Extension || t == ACDPosition }

// DN is one directory number. Which settings block is allowed depends on
// Type: Queue only on an acd-queue, Routing only on a routing-point, Trunk
// only on a trunk; Forward, Bridged, CallWaiting, NoAnswerTimeout, SIPPassword
// and MaxContacts only on an extension or acd-position.
type DN struct {
	Number string `yaml:"number"`
	Type   DNType `yaml:"type"`
	Name   string `yaml:"name"`

	// Phones (extension, acd-position).
	NoAnswerTimeout Duration `yaml:"no-answer-timeout"`
	SIPPassword     string   `yaml:"sip-password"`
	// MaxContacts is how many devices may register this DN at once (a
	// call rings them all); 0: the tenant's default.
	MaxContacts int `yaml:"max-contacts"`
	// Forward is forwarding set at start (the same as a forward request).
	Forward *Forward `yaml:"forward"`
	// Bridged lists the DNs whose line also appears on this DN (bridged or
	// shared appearances, EventBridged).
	Bridged []string `yaml:"bridged"`
	// CallWaiting lets a call ring at this DN while it is on another call;
	// without it the DN is busy for new calls while it is on a call.
	CallWaiting bool `yaml:"call-waiting"`

	Queue   *Queue         `yaml:"queue"`
	Routing *Routing       `yaml:"routing"`
	Trunk   *TrunkSettings `yaml:"trunk"`
}

// Forward is call forwarding of a DN.
type Forward struct {
	// To is a DN of the tenant or an external number.
	To string `yaml:"to"`
	// Mode is Unconditional (the default), OnBusy, OnNoAnswer or
	// OnBusyAndNoAnswer, as written in Extensions.ForwardMode.
	Mode string `yaml:"mode"`
}

// ForwardModes lists the valid Forward.Mode values.
var ForwardModes = []string{"Unconditional", "OnBusy", "OnNoAnswer", "OnBusyAndNoAnswer"}

// The ring-no-answer (RONA) policies, EVENTS.md 5.16: what happens to an
// agent who lets an ACD call ring out. The call goes back to its queue in
// every case.
const (
	RONANotReady = "not-ready" // the agent is set NotReady (AuxWork, ReasonCode NoAnswer); the default
	RONALogout   = "logout"    // the agent is logged out (ReasonCode NoAnswer)
	RONANone     = "none"      // the agent stays Ready
)

// RONAPolicies lists the valid RONA values.
var RONAPolicies = []string{RONANotReady, RONALogout, RONANone}

// Queue holds the settings of an ACD queue.
type Queue struct {
	// WrapUpTime is after-call work for agents at the end of a call from
	// this queue: a duration, "untimed" (until the agent asks to be Ready)
	// or absent/"0s" (none, unless the agent or tenant default sets one).
	WrapUpTime WrapUp `yaml:"wrap-up-time"`
	// NoAnswerTimeout: a call offered to an agent that is not answered in
	// this time goes back to the queue (RONA). 0: the tenant default.
	NoAnswerTimeout Duration `yaml:"no-answer-timeout"`
	// RONA is the ring-no-answer policy for calls of this queue (one of
	// RONAPolicies); "": the tenant default.
	RONA string `yaml:"rona"`
	// MaxSize is the most calls that may wait; 0 is unlimited. A call
	// arriving at a full queue gets CallState QueueFull.
	MaxSize int `yaml:"max-size"`
	// Overflow sends a call that has waited After to another DN.
	Overflow *Overflow `yaml:"overflow"`
	// Skills an agent needs (at least the given level) to be offered calls
	// of this queue. Empty: any agent logged in to the queue.
	Skills map[string]int `yaml:"skills"`
	// Treatments are played to calls while they wait, in order: each
	// starts After the call is queued (0: on entry) and, with Every,
	// again every Every. A treatment replaces the one playing.
	Treatments []QueueTreatment `yaml:"treatments"`
	// ServiceLevel is the statistics' service-level threshold: a call
	// answered within it of entering the queue counts as answered in
	// service level. 0: 20s.
	ServiceLevel Duration `yaml:"service-level"`
}

// QueueTreatment is a treatment a queue plays to waiting calls.
type QueueTreatment struct {
	// Type is Music, RingBack, Silence, Busy or PlayAnnouncement (as in
	// EVENTS.md TreatmentType).
	Type  string   `yaml:"type"`
	After Duration `yaml:"after"`
	Every Duration `yaml:"every"`
	// Parms become TreatmentParms; DURATION (whole seconds) makes the
	// treatment end (EventTreatmentEnd) after that time; PlayAnnouncement
	// needs it.
	Parms map[string]string `yaml:"parms"`
}

// QueueTreatmentTypes lists the valid QueueTreatment.Type values.
var QueueTreatmentTypes = []string{"Music", "RingBack", "Silence", "Busy", "PlayAnnouncement"}

// Overflow moves a waiting call elsewhere.
type Overflow struct {
	After Duration `yaml:"after"`
	To    string   `yaml:"to"` // an acd-queue, routing-point or phone DN
}

// Routing holds the settings of a routing point.
type Routing struct {
	// RouteTimeout is how long a call waits for a routing decision before
	// it goes to DefaultDestination with Reasons.RouteTimeout. 0: no timeout.
	RouteTimeout Duration `yaml:"route-timeout"`
	// DefaultDestination is a DN of the tenant (required with RouteTimeout).
	DefaultDestination string `yaml:"default-destination"`
	// TreatmentAfter: a call that has waited this long with neither a route
	// nor a treatment produces EventTreatmentRequired. 0: never.
	TreatmentAfter Duration `yaml:"treatment-after"`
	// Strategy, when set, routes calls without an external router.
	Strategy *Strategy `yaml:"strategy"`
	// ServiceLevel is the statistics' service-level threshold of the
	// routing point (as Queue.ServiceLevel). 0: 20s.
	ServiceLevel Duration `yaml:"service-level"`
}

// Strategy types.
const (
	StrategyQueue     = "queue"       // to Queue
	StrategySkill     = "skill"       // to the longest-idle agent with Skill (optionally of Queue)
	StrategyTimeOfDay = "time-of-day" // by Rules, else Fallback
)

// StrategyTypes lists the valid Strategy.Type values.
var StrategyTypes = []string{StrategyQueue, StrategySkill, StrategyTimeOfDay}

// Strategy is a built-in routing strategy.
type Strategy struct {
	Type  string `yaml:"type"`
	Queue string `yaml:"queue"` // queue: the acd-queue; skill: optional queue to limit agents
	Skill string `yaml:"skill"` // skill: the skill name
	// MinLevel is the lowest skill level accepted (skill strategy).
	MinLevel int `yaml:"min-level"`
	// TimeZone is an IANA zone name for Rules; default UTC.
	TimeZone string     `yaml:"time-zone"`
	Rules    []TimeRule `yaml:"rules"`
	// Fallback is the destination when no rule matches (time-of-day), or
	// when no agent has the skill (skill, optional).
	Fallback string `yaml:"fallback"`
}

// Location resolves TimeZone (UTC when empty). It reads the system time
// zone database: call it when the configuration is loaded or an engine is
// built, never per call.
func (s *Strategy) Location() (*time.Location, error) {
	if s.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(s.TimeZone)
}

// TimeRule routes calls arriving on Days between From and To (local
// "HH:MM", To exclusive) to Destination.
type TimeRule struct {
	Days        []string `yaml:"days"` // mon, tue, wed, thu, fri, sat, sun; empty: every day
	From        string   `yaml:"from"`
	To          string   `yaml:"to"`
	Destination string   `yaml:"destination"`
}

// TrunkSettings holds the settings of a trunk to the network.
type TrunkSettings struct {
	// Address is the SIP peer (host:port) outbound calls go to; it may
	// name a transport (host:port;transport=tcp).
	Address string `yaml:"address"`
	// Prefixes: dialed numbers starting with one of these leave through
	// this trunk. Empty: this trunk takes any external number.
	Prefixes []string `yaml:"prefixes"`
	// SIPPassword, if set, makes an INVITE from the trunk's address
	// authenticate too (digest, 407), as SIPUser (default: the trunk's
	// number): the address alone is easily spoofed over UDP.
	SIPUser     string `yaml:"sip-user"`
	SIPPassword string `yaml:"sip-password"`
	// Inbound is how a call from the carrier is recognised as this
	// trunk's: "address" (it comes from Address's host, and port if
	// given, over the transport Address names if it names one),
	// "credentials" (from any address, with digest credentials
	// of SIPUser and SIPPassword), or "both". Default: "both" when
	// SIPPassword is set, else "address".
	Inbound string `yaml:"inbound"`
	// Account is switchboard's account at the carrier: the credentials
	// it answers the carrier's challenges (401/407) to its INVITEs with,
	// and, with Register, registers to Address with. nil: none.
	Account *CarrierAccount `yaml:"account"`
	// Keepalive is the interval of the OPTIONS sent to Address: a trunk
	// that stops answering them goes out of service
	// (EventDNOutOfService), and back in service when it answers again.
	// Default 30s; "off" sends none.
	Keepalive Keepalive `yaml:"keepalive"`
}

// TrunkInbound lists the valid TrunkSettings.Inbound values.
var TrunkInbound = []string{"address", "credentials", "both"}

// InboundMode is Inbound with its default applied.
func (t *TrunkSettings) InboundMode() string {
	switch {
	case t.Inbound != "":
		return t.Inbound
	case t.SIPPassword != "":
		return "both"
	}
	return "address"
}

// CarrierAccount is switchboard's account at a carrier.
type CarrierAccount struct {
	// User is the digest user name (and the user part of the registered
	// address of record).
	User string `yaml:"user"`
	// Password, or PasswordEnv: the name of the environment variable
	// holding it, read when serve starts (keeps it out of the file).
	Password    string `yaml:"password"`
	PasswordEnv string `yaml:"password-env"`
	// Register makes switchboard register to the trunk's Address as
	// sip:User@Domain, refreshing before the registration expires.
	Register bool `yaml:"register"`
	// Domain is the host of the registered address of record; default
	// the host of the trunk's Address.
	Domain string `yaml:"domain"`
	// Expires is the registration time asked for; default 1h (the
	// carrier may grant less).
	Expires Duration `yaml:"expires"`
}

// Keepalive is an OPTIONS interval: a duration, or "off".
type Keepalive struct {
	Duration
	Off bool
}

// Agent is an agent login id with its settings.
type Agent struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Skills maps a skill name to a level (0-100).
	Skills map[string]int `yaml:"skills"`
	// WrapUpTime overrides the queue's after-call work for this agent.
	WrapUpTime WrapUp `yaml:"wrap-up-time"`
	// NoAnswerTimeout overrides the queue's no-answer timeout.
	NoAnswerTimeout Duration `yaml:"no-answer-timeout"`
	// RONA overrides the queue's ring-no-answer policy for this agent.
	RONA string `yaml:"rona"`
}

// Supervisor is an agent who may also monitor other agents' calls.
type Supervisor struct {
	Agent `yaml:",inline"`
}

// Duration is a Go duration string in YAML ("10s", "1m30s"). The zero
// value means "not set".
type Duration struct {
	time.Duration
	bad string // the text that did not parse, reported by Validate
}

// D returns a Duration of d.
func D(d time.Duration) Duration { return Duration{Duration: d} }

// WrapUp is an after-call work time: a duration or "untimed". The zero value
// means "not set" (inherit); Set with Time 0 means "none".
type WrapUp struct {
	Set     bool
	Untimed bool
	Time    time.Duration
	bad     string
}

// WrapUpNone and WrapUpTime build explicit wrap-up times.
func WrapUpNone() WrapUp                { return WrapUp{Set: true} }
func WrapUpTime(d time.Duration) WrapUp { return WrapUp{Set: true, Time: d} }

// String gives the YAML form: "untimed", a duration, or "" when not set.
func (w WrapUp) String() string {
	switch {
	case !w.Set:
		return ""
	case w.Untimed:
		return "untimed"
	}
	return w.Time.String()
}

// Lookup returns the tenant with the given id, or nil.
func (f *File) Lookup(id string) *Tenant {
	for i := range f.Tenants {
		if f.Tenants[i].ID == id {
			return &f.Tenants[i]
		}
	}
	return nil
}

// DN returns the DN with the given number, or nil.
func (t *Tenant) DN(number string) *DN {
	for i := range t.DNs {
		if t.DNs[i].Number == number {
			return &t.DNs[i]
		}
	}
	return nil
}
