// Package sparksubmit runs real Spark (pip's pyspark, installed and cached by
// hack/spark.sh) against the test control plane: spark-submit in cluster mode,
// and client-mode drivers whose SparkContexts the tests open, stop or kill, so
// that the maps sparkcm-hook is tested on are Spark's own.
package sparksubmit
