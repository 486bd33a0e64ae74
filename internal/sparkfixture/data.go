package sparkfixture

import (
	"fmt"
	"sort"
	"strings"
)

// driverConfData is the data of the driver conf map: spark.properties, and the
// namespace under its own key, as real Spark 3.5 and 4.x write it (checked by
// internal/sparksubmit's tests). Files in the submitter's SPARK_CONF_DIR would
// be added too; there are none with pip's pyspark.
func driverConfData(app *App, spec Spec) map[string]string {
	props := map[string]string{
		"spark.app.name":                                          app.Name,
		"spark.app.id":                                            app.AppID,
		"spark.app.submitTime":                                    "1732700000000",
		"spark.submit.deployMode":                                 "cluster",
		"spark.master":                                            "k8s://https://10.0.0.1:443",
		"spark.kubernetes.namespace":                              app.Namespace,
		"spark.kubernetes.driver.pod.name":                        app.DriverPod,
		"spark.kubernetes.resource.type":                          "java",
		"spark.kubernetes.container.image":                        sparkImage,
		"spark.kubernetes.submitInDriver":                         "true",
		"spark.kubernetes.executor.podNamePrefix":                 app.ResourcePrefix,
		"spark.kubernetes.authenticate.driver.serviceAccountName": "default",
		"spark.driver.host":                                       app.ResourcePrefix + "-driver-svc." + app.Namespace + ".svc",
		"spark.driver.port":                                       "7078",
		"spark.driver.blockManager.port":                          "7079",
		"spark.executor.instances":                                fmt.Sprint(spec.Executors),
		"spark.executor.memory":                                   "512m",
		"spark.jars":                                              mainJar,
	}
	if spec.NoExecutorMap {
		props["spark.kubernetes.executor.disableConfigMap"] = "true"
	}
	if spec.UserHadoopConfigMap != "" {
		props["spark.kubernetes.hadoop.configMapName"] = spec.UserHadoopConfigMap
	}
	if !spec.NoSparkApplication {
		props["spark.kubernetes.driver.label.sparkoperator.k8s.io/app-name"] = app.Name
		props["spark.kubernetes.driver.label.sparkoperator.k8s.io/submission-id"] = app.SubmissionID
		props["spark.kubernetes.driver.label.sparkoperator.k8s.io/launched-by-spark-operator"] = "true"
		props["spark.kubernetes.executor.label.sparkoperator.k8s.io/app-name"] = app.Name
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("#Java properties built from Kubernetes config map with name: " + app.DriverConfMap + "\n")
	for _, k := range keys {
		b.WriteString(k + "=" + props[k] + "\n")
	}
	return map[string]string{"spark.properties": b.String(), "spark.kubernetes.namespace": app.Namespace}
}

// executorConfData is the data of the executor conf map: only the namespace,
// once as a property and once under its own key.
func executorConfData(app *App) map[string]string {
	return map[string]string{
		"spark.properties":           "#Java properties built from Kubernetes config map with name: " + app.ExecutorConfMap + "\nspark.kubernetes.namespace=" + app.Namespace + "\n",
		"spark.kubernetes.namespace": app.Namespace,
	}
}

// pad grows the largest value with comment lines until the map's data holds
// about n bytes; n <= current size leaves it as is.
func pad(data map[string]string, n int) map[string]string {
	size, biggest := 0, ""
	for k, v := range data {
		size += len(k) + len(v)
		if biggest == "" || len(v) > len(data[biggest]) || (len(v) == len(data[biggest]) && k < biggest) {
			biggest = k
		}
	}
	if n <= size || biggest == "" {
		return data
	}
	const line = "# padding to the size of a real configuration file ...........\n" // 64 bytes
	var b strings.Builder
	b.WriteString(data[biggest])
	for missing := n - size; missing > 0; missing -= len(line) {
		if missing < len(line) {
			b.WriteString(line[len(line)-missing:])
			break
		}
		b.WriteString(line)
	}
	data[biggest] = b.String()
	return data
}

const executorPodTemplate = `apiVersion: v1
kind: Pod
metadata:
  labels:
    team: data-platform
spec:
  tolerations:
  - key: spark
    operator: Exists
    effect: NoSchedule
  containers:
  - name: spark-kubernetes-executor
`

const coreSiteXML = `<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>hdfs://namenode.hadoop.svc:8020</value></property>
  <property><name>hadoop.security.authentication</name><value>kerberos</value></property>
</configuration>
`

const hdfsSiteXML = `<?xml version="1.0"?>
<configuration>
  <property><name>dfs.replication</name><value>3</value></property>
</configuration>
`

const krb5Conf = `[libdefaults]
  default_realm = EXAMPLE.COM
[realms]
  EXAMPLE.COM = {
    kdc = kdc.example.com
  }
`

const userSparkDefaults = `spark.eventLog.enabled true
spark.eventLog.dir s3a://spark-logs/events
spark.sql.shuffle.partitions 64
`
