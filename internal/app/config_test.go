package app

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseFlagsDefaults(t *testing.T) {
	got, err := ParseFlags(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got.Data != "./switchboard-data" || got.HTTP != "127.0.0.1:8080" || got.SIP != "127.0.0.1:5060" ||
		got.KafkaListen != "127.0.0.1:9092" || got.Partitions != 12 || len(got.KafkaBrokers) != 0 {
		t.Fatalf("defaults differ from the documented ones: %+v", got)
	}
}

func TestParseFlagsEnvAndOverride(t *testing.T) {
	e := env(map[string]string{
		"SWITCHBOARD_DATA":             "/tmp/x",
		"SWITCHBOARD_KAFKA_BROKERS":    "k1:9092, k2:9092",
		"SWITCHBOARD_PARTITIONS":       "6",
		"SWITCHBOARD_TOPIC_PREFIX":     "prod.",
		"SWITCHBOARD_SERVER_ID":        "node-7",
		"SWITCHBOARD_LOG_FORMAT":       "json",
		"SWITCHBOARD_HTTP":             "127.0.0.1:1",
		"SWITCHBOARD_SHUTDOWN_TIMEOUT": "3s",
	})
	got, err := ParseFlags([]string{"--http", "127.0.0.1:0", "--partitions=3", "--config", "c.yaml"}, e, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Data = "/tmp/x"
	want.KafkaBrokers = []string{"k1:9092", "k2:9092"}
	want.Partitions = 3 // flag over env
	want.TopicPrefix = "prod."
	want.ServerID = "node-7"
	want.LogFormat = "json"
	want.HTTP = "127.0.0.1:0" // flag over env
	want.ConfigFile = "c.yaml"
	want.ShutdownTimeout = 3 * time.Second
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad partitions", []string{"--partitions", "0"}, nil, "--partitions"},
		{"partitions not a number", []string{"--partitions", "x"}, nil, "partitions"},
		{"bad env partitions", nil, map[string]string{"SWITCHBOARD_PARTITIONS": "many"}, "SWITCHBOARD_PARTITIONS"},
		{"bad http", []string{"--http", "localhost"}, nil, "--http"},
		{"bad broker", []string{"--kafka-brokers", "k1"}, nil, "--kafka-brokers"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"bad feature codes", []string{"--sip-feature-codes", "dnd=*78"}, nil, "--sip-feature-codes"},
		{"bad log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"negative relay linger", []string{"--relay-linger", "-5ms"}, nil, "--relay-linger: -5ms: want 0 (no lingering) to 1m0s"},
		{"relay linger beyond a minute", nil, map[string]string{"SWITCHBOARD_RELAY_LINGER": "2m"}, "--relay-linger: 2m0s"},
		{"relay linger not a duration", []string{"--relay-linger", "20"}, nil, "relay-linger"},
		{"negative journal min sync interval", []string{"--journal-min-sync-interval", "-1ms"}, nil, "--journal-min-sync-interval: -1ms: want 0 (no interval) to 100ms"},
		{"journal min sync interval beyond 100ms", nil, map[string]string{"SWITCHBOARD_JOURNAL_MIN_SYNC_INTERVAL": "101ms"}, "--journal-min-sync-interval: 101ms"},
		{"journal min sync interval not a duration", []string{"--journal-min-sync-interval", "2"}, nil, "journal-min-sync-interval"},
		{"bad env journal min sync interval", nil, map[string]string{"SWITCHBOARD_JOURNAL_MIN_SYNC_INTERVAL": "soon"}, "SWITCHBOARD_JOURNAL_MIN_SYNC_INTERVAL"},
		{"short cluster secret", []string{"--cluster", "c1", "--kafka-brokers", "k1:9092"}, map[string]string{"SWITCHBOARD_CLUSTER_SECRET": "short"}, "--cluster-secret"},
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"extra argument", []string{"extra"}, nil, "extra"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseFlags(c.args, env(c.env), &bytes.Buffer{})
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want ErrConfig naming %s", err, c.want)
			}
		})
	}
}

// TestParseFlagsRelayLinger: --relay-linger defaults to the relay's
// DefaultLinger, takes 0 for no lingering, and its environment variable
// works like the other flags'.
func TestParseFlagsRelayLinger(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, nil, 20 * time.Millisecond},
		{[]string{"--relay-linger", "0"}, nil, 0},
		{nil, map[string]string{"SWITCHBOARD_RELAY_LINGER": "50ms"}, 50 * time.Millisecond},
		{[]string{"--relay-linger=5ms"}, map[string]string{"SWITCHBOARD_RELAY_LINGER": "50ms"}, 5 * time.Millisecond},
	} {
		got, err := ParseFlags(c.args, env(c.env), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%v %v: %v", c.args, c.env, err)
		}
		if got.Durability.RelayLinger != c.want {
			t.Errorf("%v %v: relay linger %v, want %v", c.args, c.env, got.Durability.RelayLinger, c.want)
		}
	}
}

// TestParseFlagsJournalMinSyncInterval: --journal-min-sync-interval
// defaults to DefaultJournalMinSyncInterval, takes 0 (no interval) and up
// to 100ms, and its environment variable works like the other flags'.
func TestParseFlagsJournalMinSyncInterval(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, nil, DefaultJournalMinSyncInterval},
		{[]string{"--journal-min-sync-interval", "0"}, map[string]string{"SWITCHBOARD_JOURNAL_MIN_SYNC_INTERVAL": "3ms"}, 0},
		{nil, map[string]string{"SWITCHBOARD_JOURNAL_MIN_SYNC_INTERVAL": "3ms"}, 3 * time.Millisecond},
		{[]string{"--journal-min-sync-interval=100ms"}, map[string]string{"SWITCHBOARD_JOURNAL_MIN_SYNC_INTERVAL": "3ms"}, 100 * time.Millisecond},
		{[]string{"--journal-min-sync-interval", "500us"}, nil, 500 * time.Microsecond},
	} {
		got, err := ParseFlags(c.args, env(c.env), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%v %v: %v", c.args, c.env, err)
		}
		if got.Durability.JournalMinSyncInterval != c.want {
			t.Errorf("%v %v: journal min sync interval %v, want %v", c.args, c.env, got.Durability.JournalMinSyncInterval, c.want)
		}
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := ParseFlags([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v", err)
	}
	for _, f := range []string{"-data", "-http", "-sip", "-kafka-brokers", "-kafka-listen", "-topic-prefix",
		"-partitions", "-config", "-server-id", "-log-level", "-sip-feature-codes", "-log-format", "SWITCHBOARD_KAFKA_BROKERS", "registrar and B2BUA", "-journal-max-size", "-journal-min-sync-interval"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("help lacks %q:\n%s", f, out.String())
		}
	}
}
