package broker_test

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-cc/switchboard/internal/broker"
	"github.com/switchboard-cc/switchboard/internal/kafkatest"
	"github.com/switchboard-cc/switchboard/internal/testenv"
)

// describeJava describes the topics named after the bootstrap address with
// the Java admin client and prints "topic partitions" for each.
const describeJava = `import org.apache.kafka.clients.admin.*;
import java.util.*;

public class Describe {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", args[0]);
        try (Admin admin = Admin.create(p)) {
            var topics = Arrays.asList(args).subList(1, args.length);
            var described = new TreeMap<>(admin.describeTopics(topics).allTopicNames().get());
            described.forEach((name, d) -> System.out.println(name + " " + d.partitions().size()));
        }
    }
}
`

// The Java admin client (Kafka's kafka-clients, the one scripts/kafka
// runs) describes the embedded broker's topics: Admin.describeTopics, what
// kafka-topics.sh --describe and MirrorMaker 2 call. It threw a
// NullPointerException on kfake's DescribeTopicPartitions answer while the
// broker advertised that API.
func TestJavaAdminDescribesTopics(t *testing.T) {
	testenv.LookPath(t, "a JDK, e.g. Debian package default-jdk-headless", "javac") // java runs the source file with the JDK's compiler
	java := testenv.LookPath(t, "a JDK, e.g. Debian package default-jdk-headless", "java")
	root := kafkatest.RepoRoot(t)
	if out, err := exec.Command(filepath.Join(root, "scripts", "kafka"), "fetch").CombinedOutput(); err != nil {
		testenv.Missing(t, "Kafka's jars: scripts/kafka fetch: %v\n%s", err, out)
	}
	libs := filepath.Join(root, ".cache", "kafka", cmp.Or(os.Getenv("KAFKA_VERSION"), "4.1.1"), "libs")
	b := start(t, broker.Config{Dir: t.TempDir(), Topics: []string{"voice-agentstate", "voice-callthread"}, Partitions: 3})
	src := filepath.Join(t.TempDir(), "Describe.java")
	if err := os.WriteFile(src, []byte(describeJava), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, java, "-cp", filepath.Join(libs, "*"), src, b.Addr(), "voice-agentstate", "voice-callthread").CombinedOutput()
	if err != nil {
		t.Fatalf("the Java admin client describing the topics: %v\n%s", err, out)
	}
	if got, want := string(out), "voice-agentstate 3\nvoice-callthread 3\n"; !strings.HasSuffix(got, want) {
		t.Fatalf("the Java admin client printed\n%s\nwant it to end with\n%s", got, want)
	}
}
