internal import CRdKafka

/// The librdkafka this process runs with (the shared library loaded, not the headers built
/// against): services log it at start and report it on `/health`, `/ready` and as a metric,
/// because broker compatibility depends on it (deploy/README.md, supported versions).
public enum LibRdKafka {
    public static var version: String { String(cString: rd_kafka_version_str()) }
}
