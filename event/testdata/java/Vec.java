// Vec prints the Java client's murmur2 and partition for the keys of
// partition_test.go's TestPartitionJavaVectors, one Go table row a line.
//
//	javac -cp 'KAFKA_LIBS/*' Vec.java && java -cp 'KAFKA_LIBS/*:.' Vec
//
// where KAFKA_LIBS holds kafka-clients and its dependencies (for instance
// .cache/kafka/4.1.1/libs after scripts/kafka fetch).
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import java.nio.charset.StandardCharsets;
public class Vec {
  public static void main(String[] a) {
    String[] keys = {"21","foobar","abc","t1:agent-0001","t1:5001","acme:7f3a9c2e4b1d0a68","tenant-42:agent.smith","t9:","", "ütf8:ключ"};
    int[] ns = {1, 3, 12, 50, 1000};
    for (String k : keys) {
      byte[] b = k.getBytes(StandardCharsets.UTF_8);
      StringBuilder sb = new StringBuilder();
      sb.append("{\"").append(k).append("\", ").append(Utils.murmur2(b)).append(", [5]int32{");
      for (int i = 0; i < ns.length; i++) { if (i>0) sb.append(", "); sb.append(BuiltInPartitioner.partitionForKey(b, ns[i])); }
      sb.append("}},");
      System.out.println(sb);
    }
  }
}
