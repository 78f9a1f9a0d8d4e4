// Prints every broker and topic configuration name a Kafka release defines (configs-<version>.txt):
//   javac -d /tmp ConfigNames.java && java -cp "/tmp:<the release's libs>/*" ConfigNames
import java.lang.reflect.Method;
import java.util.Set;
import java.util.TreeSet;

public class ConfigNames {
    static Set<String> names(Object value) throws Exception {
        Set<String> out = new TreeSet<>();
        if (value instanceof java.util.Collection) {
            for (Object o : (java.util.Collection<?>) value) out.add(o.toString());
            return out;
        }
        if (value.getClass().getName().equals("org.apache.kafka.common.config.ConfigDef")) {
            return names(value.getClass().getMethod("names").invoke(value));
        }
        // a Scala collection
        Object javaSet = Class.forName("scala.jdk.javaapi.CollectionConverters").getMethod("asJava", Class.forName("scala.collection.Set")).invoke(null, value);
        return names(javaSet);
    }

    public static void main(String[] args) throws Exception {
        Class<?> broker = Class.forName("kafka.server.KafkaConfig");
        Object value = null;
        for (String m : new String[] {"configDef", "configNames"}) {
            try { value = broker.getMethod(m).invoke(null); break; } catch (NoSuchMethodException e) { }
        }
        for (String n : names(value)) System.out.println("broker " + n);
        Class<?> log = Class.forName("org.apache.kafka.storage.internals.log.LogConfig");
        for (String n : names(log.getMethod("configNames").invoke(null))) System.out.println("topic " + n);
    }
}
