package sparksubmit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Target is the API server Spark talks to, and the bearer token it uses
// (spark.kubernetes.authenticate.submission.oauthToken for spark-submit,
// spark.kubernetes.authenticate.oauthToken for a client-mode driver). The
// server's certificate is not checked (spark.kubernetes.trust.certificates):
// the test bed's CA lives in memory only.
type Target struct {
	Host  string // https://127.0.0.1:PORT
	Token string
}

// Submission is one `spark-submit --deploy-mode cluster`.
type Submission struct {
	Namespace string
	Name      string // --name, spark.app.name
	// Class and Resource default to SparkPi in the Spark image's examples jar
	// (a local:// path: nothing is uploaded).
	Class    string
	Resource string
	Args     []string
	// Conf is added to what Submit sets itself (master, namespace,
	// credentials, waitAppCompletion=false, an image), and wins over it.
	Conf map[string]string
	// HadoopConfDir is exported as HADOOP_CONF_DIR: Spark then ships its files
	// in <prefix>-hadoop-config.
	HadoopConfDir string
}

// Submitted is what spark-submit reported.
type Submitted struct {
	AppID     string // spark.app.id, the driver's spark-app-selector label
	DriverPod string
	Output    string // spark-submit's log
}

// Default application: what the Spark Operator's examples run.
const (
	DefaultClass    = "org.apache.spark.examples.SparkPi"
	DefaultResource = "local:///opt/spark/examples/jars/spark-examples.jar"
)

// deployed is the line spark-submit logs once the driver Pod and its maps
// exist (Client.scala, 3.x and 4.x alike).
var deployed = regexp.MustCompile(`Deployed Spark application .* with application ID (\S+) and submission ID ([^:\s]+):(\S+) into Kubernetes`)

// clientTimeoutMillis bounds each connection and request of Spark's
// Kubernetes client (fabric8; 10 s by default) in the tests' submissions.
const clientTimeoutMillis = "120000"

// Submit runs the real spark-submit in cluster mode without waiting for the
// application: it returns once the driver Pod and its ConfigMaps exist (the
// driver stays Pending: there is no node).
func (in Install) Submit(ctx context.Context, t Target, s Submission) (*Submitted, error) {
	work, err := os.MkdirTemp("", "sparkbed-submit-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := os.Mkdir(filepath.Join(work, "conf"), 0o755); err != nil {
		return nil, err
	}
	conf := map[string]string{
		"spark.master":               "k8s://" + t.Host,
		"spark.submit.deployMode":    "cluster",
		"spark.app.name":             s.Name,
		"spark.kubernetes.namespace": s.Namespace,
		"spark.kubernetes.authenticate.submission.oauthToken": t.Token,
		"spark.kubernetes.trust.certificates":                 "true",
		"spark.kubernetes.submission.waitAppCompletion":       "false",
		"spark.kubernetes.container.image":                    "spark:" + in.Version,
		// fabric8's default 10 s connection timeout fired in CI, where the
		// JVM shares two cores with other test packages (vert.x logged
		// "Thread blocked" first): a slow machine must not read as a failure.
		"spark.kubernetes.submission.connectionTimeout": clientTimeoutMillis,
		"spark.kubernetes.submission.requestTimeout":    clientTimeoutMillis,
	}
	for k, v := range s.Conf {
		conf[k] = v
	}
	props := filepath.Join(work, "spark-submit.properties")
	if err := writeProperties(props, conf); err != nil {
		return nil, err
	}
	class, resource := s.Class, s.Resource
	if class == "" && resource == "" {
		class, resource = DefaultClass, DefaultResource
	}
	args := []string{"--properties-file", props, "--name", s.Name}
	if class != "" {
		args = append(args, "--class", class)
	}
	args = append(args, resource)
	args = append(args, s.Args...)
	var extra []string
	if s.HadoopConfDir != "" {
		extra = append(extra, "HADOOP_CONF_DIR="+s.HadoopConfDir)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(in.Home, "bin", "spark-submit"), args...)
	cmd.Env = in.env(work, extra...)
	cmd.Dir = work
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	res := &Submitted{Output: out.String()}
	if err != nil {
		return res, fmt.Errorf("spark-submit %s (Spark %s): %w\n%s", s.Name, in.Version, err, excerpt(res.Output))
	}
	m := deployed.FindStringSubmatch(res.Output)
	if m == nil {
		return res, fmt.Errorf("spark-submit %s (Spark %s) exited 0 without reporting a deployed application:\n%s", s.Name, in.Version, excerpt(res.Output))
	}
	res.AppID, res.DriverPod = m[1], m[3]
	return res, nil
}

// writeProperties writes conf as a Java properties file (keys sorted), which
// keeps credentials off the command line and needs no shell quoting.
func writeProperties(path string, conf map[string]string) error {
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(escapeProperty(k, true) + "=" + escapeProperty(conf[k], false) + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func escapeProperty(s string, key bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case key && (r == '=' || r == ':' || r == ' ' || r == '#' || r == '!'):
			b.WriteRune('\\')
			b.WriteRune(r)
		case !key && i == 0 && r == ' ':
			b.WriteString(`\ `)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
