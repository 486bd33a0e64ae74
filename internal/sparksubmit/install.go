package sparksubmit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// EnvInstalls names the Spark installs to use: folders made by hack/spark.sh,
// separated like PATH. The Makefile sets it; when it is unset, Find runs
// hack/spark.sh itself (a warm run only checks its cache).
const EnvInstalls = "SPARKCM_SPARK"

// Install is one Spark version installed by hack/spark.sh: pip's pyspark in
// Dir, with the java and python it runs with.
type Install struct {
	Version string // e.g. 3.5.9
	Dir     string // the folder hack/spark.sh printed: PYTHONPATH of client-mode drivers
	Home    string // SPARK_HOME, Dir/pyspark
	Java    string // the java binary
	Python  string // the python interpreter pyspark was installed for
}

// UnavailableError says why Spark cannot run on this machine (no Java 17 and
// no way to install it). Tests skip with Reason; it is never a pass.
type UnavailableError struct{ Reason string }

func (e *UnavailableError) Error() string { return "real Spark unavailable: " + e.Reason }

// exitUnavailable is hack/spark.sh's exit code for "no Java, cannot install it".
const exitUnavailable = 3

// Find returns the installs named by $SPARKCM_SPARK, else those hack/spark.sh
// installs (or finds in its cache) for versions (none: every pinned version).
// With $SPARKCM_SPARK set, versions filters it. A missing Java is an
// *UnavailableError.
func Find(ctx context.Context, versions ...string) ([]Install, error) {
	var dirs []string
	if env := os.Getenv(EnvInstalls); strings.TrimSpace(env) != "" {
		dirs = filepath.SplitList(strings.TrimSpace(env))
	} else {
		var err error
		if dirs, err = runSparkSh(ctx, versions); err != nil {
			return nil, err
		}
	}
	all, err := Load(dirs...)
	if err != nil {
		return nil, err
	}
	var out []Install
	for _, in := range all {
		if len(versions) == 0 || contains(versions, in.Version) {
			out = append(out, in)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Spark install for versions %v among %v", versions, dirs)
	}
	return out, nil
}

// Pinned returns the versions hack/spark.sh pins, in its order (the newest
// 3.5 first). It installs nothing.
func Pinned(ctx context.Context) ([]string, error) {
	root, err := kubecluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, filepath.Join(root, "hack", "spark.sh"), "--pinned").Output()
	if err != nil {
		return nil, fmt.Errorf("hack/spark.sh --pinned: %w", err)
	}
	return strings.Fields(string(out)), nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func runSparkSh(ctx context.Context, versions []string) ([]string, error) {
	root, err := kubecluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "spark.sh"), versions...)
	cmd.Dir = root
	cmd.Stdout = &stdout
	// A cold install shows its progress, as the control plane's build does.
	cmd.Stderr = io.MultiWriter(os.Stderr, &stderr)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == exitUnavailable {
		return nil, &UnavailableError{Reason: lastLine(stderr.String())}
	}
	if err != nil {
		return nil, fmt.Errorf("hack/spark.sh: %w\n%s", err, tail(stderr.String(), 3000))
	}
	return strings.Split(strings.TrimSpace(stdout.String()), "\n"), nil
}

// Load reads folders hack/spark.sh made (empty entries are skipped).
func Load(dirs ...string) ([]Install, error) {
	var out []Install
	for _, d := range dirs {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		in, err := load(d)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

func load(dir string) (Install, error) {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("spark install %s (run hack/spark.sh): %w", dir, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	in := Install{Dir: dir, Home: filepath.Join(dir, "pyspark")}
	var err error
	if in.Version, err = read("version"); err != nil {
		return in, err
	}
	if in.Java, err = read("java"); err != nil {
		return in, err
	}
	if in.Python, err = read("python"); err != nil {
		return in, err
	}
	if _, err := os.Stat(filepath.Join(in.Home, "bin", "spark-submit")); err != nil {
		return in, fmt.Errorf("spark install %s: %w", dir, err)
	}
	return in, nil
}

// javaHome is the JDK folder of in.Java (its symlinks resolved), so that
// spark-class runs exactly that java.
func (in Install) javaHome() string {
	java, err := filepath.EvalSymlinks(in.Java)
	if err != nil {
		java = in.Java
	}
	return filepath.Dir(filepath.Dir(java))
}

// env is the whole environment Spark runs with: nothing from the caller's
// but PATH, so a developer's ~/.kube/config, SPARK_CONF_DIR or
// HADOOP_CONF_DIR cannot change what Spark creates. work is a private folder.
func (in Install) env(work string, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + work,
		"TMPDIR=" + os.TempDir(),
		"JAVA_HOME=" + in.javaHome(),
		"SPARK_HOME=" + in.Home,
		"SPARK_CONF_DIR=" + filepath.Join(work, "conf"), // empty: no spark-defaults, no log4j2 file
		"PYSPARK_PYTHON=" + in.Python,
		"PYSPARK_DRIVER_PYTHON=" + in.Python,
		"PYTHONPATH=" + in.Dir,
		// fabric8 reads a kubeconfig before Spark's own settings override it;
		// point it at nothing.
		"KUBECONFIG=" + filepath.Join(work, "no-kubeconfig"),
		"SPARK_LOCAL_IP=127.0.0.1",
		// A short-lived JVM on a busy 2-core machine starts much faster
		// without the C2 compiler.
		"SPARK_SUBMIT_OPTS=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
	}
	return append(env, extra...)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// excerpt is what explains a failed Spark run: its error and exception lines
// (not the stack frames), then the log's last lines.
func excerpt(log string) string {
	var b strings.Builder
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if n < 20 && (strings.Contains(l, "ERROR") || strings.Contains(l, "Exception") || strings.HasPrefix(l, "Caused by")) && !strings.HasPrefix(strings.TrimSpace(l), "at ") {
			b.WriteString(l + "\n")
			n++
		}
	}
	b.WriteString("--- last lines:\n")
	b.WriteString(tail(log, 1500))
	return b.String()
}
