package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Records older than the retention are deleted, also after a restart (when
// the topics are loaded from disk rather than created), except a partition's
// last record (as Kafka keeps its active segment).
func TestRetentionAppliedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Listen: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 1, Retention: 2 * time.Second, RetentionCheck: 20 * time.Millisecond}
	ctx := context.Background()
	b, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for range 10 {
		recs = append(recs, &kgo.Record{Topic: "t", Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	b.Close()

	b, err = Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if p := b.Cluster().PartitionInfo("t", 0); p.HighWatermark != 10 {
		t.Fatalf("after restart: high watermark %d, want 10", p.HighWatermark)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := b.Cluster().PartitionInfo("t", 0)
		if p.LogStartOffset == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records not deleted after the retention: log start %d, high watermark %d", p.LogStartOffset, p.HighWatermark)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Offsets survive a restart after retention deleted all it may: a restarted
// broker must not hand out offsets consumers have already seen.
func TestOffsetsKeptWhenRetentionEmptiedPartition(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Listen: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 1, Retention: 100 * time.Millisecond, RetentionCheck: 20 * time.Millisecond}
	ctx := context.Background()
	b, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for range 10 {
		recs = append(recs, &kgo.Record{Topic: "t", Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for b.Cluster().PartitionInfo("t", 0).LogStartOffset != 9 {
		if time.Now().After(deadline) {
			t.Fatal("retention did not delete the records")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Close()

	b, err = Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := b.Cluster().PartitionInfo("t", 0)
	if p.HighWatermark != 10 || p.LogStartOffset != 9 {
		t.Fatalf("after restart: log start %d, high watermark %d, want 9 and 10", p.LogStartOffset, p.HighWatermark)
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("after")}).First()
	if err != nil {
		t.Fatal(err)
	}
	if r.Offset != 10 {
		t.Fatalf("first record after restart has offset %d, want 10", r.Offset)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []int64
	for len(got) < 2 && fctx.Err() == nil {
		cl.PollFetches(fctx).EachRecord(func(r *kgo.Record) { got = append(got, r.Offset) })
	}
	if len(got) != 2 || got[0] != 9 || got[1] != 10 {
		t.Fatalf("consumed offsets %v, want [9 10]: deleted records must stay deleted", got)
	}
}

// Retention works with TLS and SASL on: the broker's own client connects in
// process, without TLS, as the first configured user.
func TestRetentionWithTLSAndSASL(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	user := SASLUser{MechanismScramSHA256, "u", "p"}
	b, err := Start(context.Background(), Config{Dir: t.TempDir(), Listen: "127.0.0.1:0", Topics: []string{"t"}, Partitions: 1,
		Retention: 50 * time.Millisecond, RetentionCheck: 20 * time.Millisecond, SASL: []SASLUser{user},
		TLS: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pool := x509.NewCertPool()
	cert, _ := x509.ParseCertificate(der)
	pool.AddCert(cert)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(saslMechanism(user)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for range 3 { // three batches: retention can delete the first two
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Cluster().PartitionInfo("t", 0).LogStartOffset != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("retention did not run: log start %d", b.Cluster().PartitionInfo("t", 0).LogStartOffset)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
