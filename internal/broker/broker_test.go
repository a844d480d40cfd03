package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func testLogger(t testing.TB) *slog.Logger { return kafkatest.Logger(t, slog.LevelInfo) }

func start(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   broker.Config
		field string // "" = valid
	}{
		{"minimal", broker.Config{Dir: "d"}, ""},
		{"full", broker.Config{Dir: "d", Listen: "127.0.0.1:0", Topics: []string{"p.voice-agentstate"}, Partitions: 3, Retention: time.Hour,
			SASL: []broker.SASLUser{{"SCRAM-SHA-512", "u", "p"}}}, ""},
		{"no dir", broker.Config{}, "Dir"},
		{"listen not hostport", broker.Config{Dir: "d", Listen: "9092"}, "Listen"},
		{"listen bad port", broker.Config{Dir: "d", Listen: "127.0.0.1:70000"}, "Listen"},
		{"all interfaces need advertise", broker.Config{Dir: "d", Listen: "0.0.0.0:9092"}, "Advertise"},
		{"all interfaces with advertise", broker.Config{Dir: "d", Listen: "0.0.0.0:9092", Advertise: "kafka.example:9092"}, ""},
		{"advertise unspecified", broker.Config{Dir: "d", Advertise: "0.0.0.0:9092"}, "Advertise"},
		{"advertise port 0", broker.Config{Dir: "d", Advertise: "h:0"}, "Advertise"},
		{"bad topic", broker.Config{Dir: "d", Topics: []string{"ok", "no/slash"}}, "Topics[1]"},
		{"empty topic", broker.Config{Dir: "d", Topics: []string{""}}, "Topics[0]"},
		{"negative partitions", broker.Config{Dir: "d", Partitions: -1}, "Partitions"},
		{"bad mechanism", broker.Config{Dir: "d", SASL: []broker.SASLUser{{"GSSAPI", "u", "p"}}}, "SASL[0].Mechanism"},
		{"no user", broker.Config{Dir: "d", SASL: []broker.SASLUser{{"PLAIN", "", "p"}}}, "SASL[0].User"},
		{"no password", broker.Config{Dir: "d", SASL: []broker.SASLUser{{"PLAIN", "u", ""}}}, "SASL[0].Password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, broker.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), ": "+tc.field+": ") {
				t.Fatalf("Validate() = %q, does not name field %s", err, tc.field)
			}
		})
	}
}

// The topics exist with the configured partition count and retention, seen
// through the Kafka protocol as any client sees them.
func TestTopicsCreatedAtStart(t *testing.T) {
	topics := []string{"x.voice-agentstate", "x.voice-callthread"}
	b := start(t, broker.Config{Dir: t.TempDir(), Topics: topics, Partitions: 5, Retention: 36 * time.Hour})
	adm := kadm.NewClient(client(t, b.Addr()))
	ctx := ctxT(t)

	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := td.Names(); len(got) != 2 || !td.Has(topics[0]) || !td.Has(topics[1]) {
		t.Fatalf("topics = %v, want %v", got, topics)
	}
	for _, topic := range topics {
		if got := len(td[topic].Partitions); got != 5 {
			t.Errorf("%s has %d partitions, want 5", topic, got)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		var got string
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" {
				got = c.MaybeValue()
			}
		}
		if want := strconv.Itoa(36 * 3600 * 1000); got != want {
			t.Errorf("%s retention.ms = %q, want %q", rc.Name, got, want)
		}
	}
}

func TestRetentionDefaultAndForever(t *testing.T) {
	for _, tc := range []struct {
		retention time.Duration
		want      string
	}{
		{0, "604800000"},
		{-1, "-1"},
	} {
		b := start(t, broker.Config{Dir: t.TempDir(), Topics: []string{"t"}, Retention: tc.retention})
		info := b.Cluster().TopicInfo("t")
		if info == nil {
			t.Fatal("topic t missing")
		}
		if v := info.Configs["retention.ms"]; v == nil || *v != tc.want {
			t.Errorf("Retention %v: retention.ms = %v, want %s", tc.retention, v, tc.want)
		}
		if n := len(b.Cluster().PartitionInfos("t")); n != broker.DefaultPartitions {
			t.Errorf("partitions = %d, want default %d", n, broker.DefaultPartitions)
		}
	}
}

// Metadata names the bound host:port, so a client that bootstraps from the
// broker connects back to the same address.
func TestAdvertisesBoundAddress(t *testing.T) {
	b := start(t, broker.Config{Dir: t.TempDir(), Topics: []string{"t"}})
	host, port, err := net.SplitHostPort(b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %s, want 127.0.0.1 and a real port", b.Addr())
	}
	// Raw metadata request, as kcat or the Java client would send.
	cl := client(t, b.Addr())
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctxT(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 1 {
		t.Fatalf("metadata has %d brokers, want 1", len(resp.Brokers))
	}
	got := net.JoinHostPort(resp.Brokers[0].Host, strconv.Itoa(int(resp.Brokers[0].Port)))
	if got != b.Addr() {
		t.Fatalf("metadata advertises %s, want bound %s", got, b.Addr())
	}
	conn, err := net.DialTimeout("tcp", got, 2*time.Second)
	if err != nil {
		t.Fatalf("advertised address not reachable: %v", err)
	}
	conn.Close()
}

// Topics are never auto-created: a produce to an unknown topic fails and
// leaves no topic behind.
func TestNoAutoCreate(t *testing.T) {
	b := start(t, broker.Config{Dir: t.TempDir(), Topics: []string{"t"}})
	cl := client(t, b.Addr(), kgo.AllowAutoTopicCreation(), kgo.UnknownTopicRetries(1))
	err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "nope", Value: []byte("v")}).FirstErr()
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("produce to unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if b.Cluster().TopicInfo("nope") != nil {
		t.Fatal("topic nope was auto-created")
	}
}

// Everything written before Close is there after a restart on the same
// directory, in order, with keys and headers; a restart also keeps the
// partition count of existing topics and adds newly configured topics.
func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	const n = 3000
	topics := []string{"a", "b"}
	b := start(t, broker.Config{Dir: dir, Topics: topics, Partitions: 4})
	cl := client(t, b.Addr(), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{
			Topic:   topics[i%2],
			Key:     []byte(fmt.Sprintf("k%d", i%37)),
			Value:   []byte(fmt.Sprintf("v%d", i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(strconv.Itoa(i))}},
		})
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	want := map[string][]string{} // topic/partition -> values in offset order
	for _, r := range recs {
		k := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
		want[k] = append(want[k], string(r.Value))
	}
	b.Close()

	// Restart on the same directory, another free port, one more topic and
	// a different partition count that must not change existing topics.
	b2 := start(t, broker.Config{Dir: dir, Topics: []string{"a", "b", "c"}, Partitions: 7})
	if n := len(b2.Cluster().PartitionInfos("a")); n != 4 {
		t.Errorf("after restart a has %d partitions, want 4", n)
	}
	if n := len(b2.Cluster().PartitionInfos("c")); n != 7 {
		t.Errorf("new topic c has %d partitions, want 7", n)
	}
	cons := client(t, b2.Addr(), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	got := map[string][]string{}
	ctx := ctxT(t)
	for total := 0; total < n; {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of %d records: %v", total, n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			total++
			k := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
			got[k] = append(got[k], string(r.Value))
			i, _ := strconv.Atoi(strings.TrimPrefix(string(r.Value), "v"))
			if string(r.Key) != fmt.Sprintf("k%d", i%37) || len(r.Headers) != 1 || string(r.Headers[0].Value) != strconv.Itoa(i) {
				t.Errorf("record %s: key %q headers %v do not match what was written", r.Value, r.Key, r.Headers)
			}
		})
	}
	if len(got) != len(want) {
		t.Fatalf("read partitions %d, want %d", len(got), len(want))
	}
	for k, w := range want {
		if g := got[k]; strings.Join(g, ",") != strings.Join(w, ",") {
			t.Errorf("%s: read %d records, want %d in the same order", k, len(g), len(w))
		}
	}
	// The log end offsets survived too: a new write goes after them.
	hw := b2.Cluster().PartitionInfo("a", 0).HighWatermark
	if want := int64(len(want["a/0"])); hw != want {
		t.Errorf("a/0 high watermark %d, want %d", hw, want)
	}
}

func TestStartErrors(t *testing.T) {
	b := start(t, broker.Config{Dir: t.TempDir()})
	// The port is taken.
	_, err := broker.Start(context.Background(), broker.Config{Dir: t.TempDir(), Listen: b.Addr()})
	if !errors.Is(err, broker.ErrStart) {
		t.Fatalf("Start on a taken port: %v, want ErrStart", err)
	}
	_, err = broker.Start(context.Background(), broker.Config{})
	if !errors.Is(err, broker.ErrInvalidConfig) {
		t.Fatalf("Start with no Dir: %v, want ErrInvalidConfig", err)
	}
}

// selfSigned returns a server TLS config for 127.0.0.1 and a client config
// trusting it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "switchboard test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// TLS and SASL: the configured users get in over TLS with each mechanism, a
// wrong password does not, and after a restart only the users configured
// then are accepted.
func TestTLSAndSASL(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	dir := t.TempDir()
	users := []broker.SASLUser{
		{broker.MechanismPlain, "plain-user", "pw1"},
		{broker.MechanismScramSHA256, "scram256", "pw2"},
		{broker.MechanismScramSHA512, "scram512", "pw3"},
	}
	b := start(t, broker.Config{Dir: dir, Topics: []string{"t"}, TLS: srvTLS, SASL: users})
	mech := func(u broker.SASLUser) sasl.Mechanism {
		switch u.Mechanism {
		case broker.MechanismPlain:
			return plain.Auth{User: u.User, Pass: u.Password}.AsMechanism()
		case broker.MechanismScramSHA256:
			return scram.Auth{User: u.User, Pass: u.Password}.AsSha256Mechanism()
		default:
			return scram.Auth{User: u.User, Pass: u.Password}.AsSha512Mechanism()
		}
	}
	produce := func(addr string, u broker.SASLUser) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(cliTLS.Clone()), kgo.SASL(mech(u)),
			kgo.RequestRetries(0), kgo.RecordRetries(1))
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A rejected login fails this request; a produce would retry.
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
			return err
		}
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte(u.User)}).FirstErr()
	}
	for _, u := range users {
		if err := produce(b.Addr(), u); err != nil {
			t.Errorf("%s %s: %v", u.Mechanism, u.User, err)
		}
		bad := u
		bad.Password += "x"
		start := time.Now()
		err := produce(b.Addr(), bad)
		t.Logf("wrong password %s: %v after %v", u.Mechanism, err, time.Since(start))
		if err == nil {
			t.Errorf("%s %s with a wrong password was accepted", u.Mechanism, u.User)
		}
	}
	// Plaintext to a TLS listener fails.
	plainCl := client(t, b.Addr(), kgo.RequestRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := plainCl.Ping(ctx); err == nil {
		t.Error("plaintext client got through to the TLS listener")
	}
	b.Close()

	newUser := broker.SASLUser{broker.MechanismScramSHA256, "other", "pw4"}
	b2 := start(t, broker.Config{Dir: dir, Topics: []string{"t"}, TLS: srvTLS, SASL: []broker.SASLUser{newUser}})
	if err := produce(b2.Addr(), newUser); err != nil {
		t.Errorf("new user after restart: %v", err)
	}
	if err := produce(b2.Addr(), users[1]); err == nil {
		t.Error("a user no longer configured was accepted after restart")
	}
}

// copyDir copies the regular files of src into dst, recursively.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A crash of the process (the data directory as it is while the broker
// runs, without Close writing its final state) loses no acknowledged
// record: a broker started on a copy taken mid-run has them all, and new
// records get new offsets.
func TestAcknowledgedRecordsSurviveCrash(t *testing.T) {
	dir := t.TempDir()
	b := start(t, broker.Config{Dir: dir, Topics: []string{"t"}, Partitions: 3, SyncWrites: true})
	cl := client(t, b.Addr(), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	const n = 2000
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "t", Key: []byte(strconv.Itoa(i % 17)), Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctxT(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	crashed := t.TempDir()
	copyDir(t, dir, crashed) // the broker is still running: no final save

	b2 := start(t, broker.Config{Dir: crashed, Topics: []string{"t"}, Partitions: 3})
	var total int64
	for p := range int32(3) {
		pi := b2.Cluster().PartitionInfo("t", p)
		if pi == nil {
			t.Fatalf("partition %d missing after crash", p)
		}
		total += pi.HighWatermark - pi.LogStartOffset
	}
	if total != n {
		t.Fatalf("after crash the topic holds %d records, want %d", total, n)
	}
	cl2 := client(t, b2.Addr(), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	r, err := cl2.ProduceSync(ctxT(t), &kgo.Record{Topic: "t", Key: []byte("0"), Value: []byte("new")}).First()
	if err != nil {
		t.Fatal(err)
	}
	var before int64
	for _, x := range recs {
		if x.Partition == r.Partition {
			before++
		}
	}
	if r.Offset != before {
		t.Fatalf("new record at offset %d of partition %d, want %d", r.Offset, r.Partition, before)
	}
}

// The broker advertises every API version kfake implements but
// DescribeTopicPartitions: kfake answers it with null EligibleLeaderReplicas,
// on which the Java admin client throws (TestJavaAdminDescribesTopics;
// MirrorMaker 2 failed against serve's broker); without the key it describes
// topics through Metadata. Everything else, features included, is kfake's.
func TestAdvertisesAllButDescribeTopicPartitions(t *testing.T) {
	ours := start(t, broker.Config{Dir: t.TempDir(), Topics: []string{"t"}})
	plain, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	versions := func(addr string) *kmsg.ApiVersionsResponse {
		resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctxT(t), client(t, addr))
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("ApiVersions from %s: %v (error code %d)", addr, err, resp.ErrorCode)
		}
		return resp
	}
	got, want := versions(ours.Addr()), versions(plain.ListenAddrs()[0])
	keys := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range got.ApiKeys {
		keys[k.ApiKey] = k
	}
	for _, w := range want.ApiKeys {
		g, ok := keys[w.ApiKey]
		switch {
		case w.ApiKey == int16(kmsg.DescribeTopicPartitions):
			if ok {
				t.Errorf("DescribeTopicPartitions advertised (v%d-%d)", g.MinVersion, g.MaxVersion)
			}
		case !ok:
			t.Errorf("%s (key %d) not advertised", kmsg.NameForKey(w.ApiKey), w.ApiKey)
		case g.MinVersion != w.MinVersion || g.MaxVersion != w.MaxVersion:
			t.Errorf("%s: advertised v%d-%d, kfake implements v%d-%d", kmsg.NameForKey(w.ApiKey), g.MinVersion, g.MaxVersion, w.MinVersion, w.MaxVersion)
		}
		delete(keys, w.ApiKey)
	}
	for k := range keys {
		t.Errorf("key %d advertised, kfake does not", k)
	}
	if fmt.Sprint(got.SupportedFeatures, got.FinalizedFeatures) != fmt.Sprint(want.SupportedFeatures, want.FinalizedFeatures) {
		t.Errorf("features %v %v, kfake's %v %v", got.SupportedFeatures, got.FinalizedFeatures, want.SupportedFeatures, want.FinalizedFeatures)
	}

	// The reason, on kfake itself: once its DescribeTopicPartitions sends
	// the arrays (a kfake upgrade), the key can be advertised again.
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
	rt.Topic = "t"
	req.Topics = append(req.Topics, rt)
	req.ResponsePartitionLimit = 10
	resp, err := req.RequestWith(ctxT(t), client(t, plain.ListenAddrs()[0]))
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeTopicPartitions from kfake: %v %+v", err, resp)
	}
	if p := resp.Topics[0].Partitions[0]; p.EligibleLeaderReplicas != nil && p.LastKnownELR != nil {
		t.Errorf("kfake now sends EligibleLeaderReplicas and LastKnownELR: advertise DescribeTopicPartitions again (advertisedVersions)")
	}
}
