// Package lint finds, offline, the settings in SparkApplication manifests
// that make Spark's ConfigMaps outlive their application: no TTL, a retain
// policy without a bound, executor deletion turned off, local files uploaded
// without an upload path, user-supplied maps nothing owns. It reads files
// only and imports no client, so it runs in pre-commit hooks and CI.
package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Rule ids: part of the output contract (CI filters on them).
const (
	RuleMissingTTL         = "missing-ttl"
	RuleRetainWithoutBound = "retain-without-bound"
	RuleExecutorDeletion   = "executor-deletion-disabled"
	RuleLocalDeps          = "local-deps-without-upload-path"
	RuleUserMapNoOwner     = "user-map-without-owner"
	RuleUnparsed           = "unparsed"
)

// Finding is one problem at one place. A Note (unparsed) says the check could
// not read all of a file; it does not make the run fail on its own, because a
// Jinja template that no YAML parser reads would otherwise fail every commit.
type Finding struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
	Remedy  string `json:"remedy"`
	Note    bool   `json:"note,omitempty"`
}

const (
	kubeflowGroup = "sparkoperator.k8s.io/"
	apacheGroup   = "spark.apache.org/"

	deleteOnTermination = "spark.kubernetes.executor.deleteOnTermination"
	uploadPath          = "spark.kubernetes.file.upload.path"
)

// Source is one file's name and content.
type Source struct {
	Name string
	Data []byte
}

// Check lints every source and returns the findings sorted by file and line.
// User maps are matched to the applications that reference them across all
// sources, because a DAG repository often keeps them in separate files.
func Check(sources []Source) []Finding {
	var (
		out  []Finding
		apps []*app
		maps []*configMap
	)
	for _, s := range sources {
		f, a, m := checkFile(s)
		out = append(out, f...)
		apps = append(apps, a...)
		maps = append(maps, m...)
	}
	referenced := map[string]bool{}
	for _, a := range apps {
		for _, name := range a.userMaps {
			referenced[a.namespace+"/"+name] = true
		}
	}
	for _, m := range maps {
		if m.owned || !referenced[m.namespace+"/"+m.name] {
			continue
		}
		out = append(out, Finding{
			File: m.file, Line: m.line, Rule: RuleUserMapNoOwner,
			Message: fmt.Sprintf("ConfigMap %s is supplied to a SparkApplication but has no owner: no garbage collection ever removes it", m.name),
			Remedy:  "give it an owner that goes with the application, e.g. metadata.ownerReferences: [{apiVersion: sparkoperator.k8s.io/v1beta2, kind: SparkApplication, name: APP, uid: UID}], or delete it in the DAG's cleanup",
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out
}

type app struct {
	namespace string
	userMaps  []string
}

type configMap struct {
	file, namespace, name string
	line                  int
	owned                 bool
}

var (
	jinjaExpr    = regexp.MustCompile(`\{\{.*?\}\}`)
	jinjaTag     = regexp.MustCompile(`\{%.*?%\}|\{#.*?#\}`)
	jinjaOnly    = regexp.MustCompile(`^\s*(\{%.*?%\}|\{#.*?#\})\s*$`)
	placeholder  = "JINJA_VALUE"
	docSeparator = regexp.MustCompile(`(?m)^---\s*$`)
)

// dejinja makes a template YAML a parser can read without moving any line:
// an expression becomes a placeholder scalar (its value unknown), a line that
// is only a statement or comment becomes empty, an inline tag disappears.
func dejinja(data []byte) []byte {
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if jinjaOnly.MatchString(l) {
			lines[i] = ""
			continue
		}
		l = jinjaTag.ReplaceAllString(l, "")
		lines[i] = jinjaExpr.ReplaceAllString(l, placeholder)
	}
	return []byte(strings.Join(lines, "\n"))
}

func templated(s string) bool { return strings.Contains(s, placeholder) }

func checkFile(s Source) ([]Finding, []*app, []*configMap) {
	var (
		out  []Finding
		apps []*app
		maps []*configMap
	)
	dec := yaml.NewDecoder(bytes.NewReader(dejinja(s.Data)))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			// The parser cannot go on past a broken document: fall back to
			// reading the obvious keys line by line for the whole file, but
			// only when it looks like a SparkApplication at all.
			if bytes.Contains(s.Data, []byte("SparkApplication")) {
				out = append(out, Finding{
					File: s.Name, Line: errLine(err), Rule: RuleUnparsed, Note: true,
					Message: "not parsed as YAML (" + oneLine(err.Error()) + "); only the obvious keys were checked line by line",
					Remedy:  "keep Jinja in values (key: {{ var }}) or in whole-line {% %} statements so the file parses",
				})
				out = append(out, fallback(s)...)
			}
			return out, nil, nil
		}
		if len(doc.Content) == 0 {
			continue
		}
		f, a, m := checkDoc(s.Name, doc.Content[0])
		out = append(out, f...)
		if a != nil {
			apps = append(apps, a)
		}
		if m != nil {
			maps = append(maps, m)
		}
	}
	return out, apps, maps
}

var lineInErr = regexp.MustCompile(`line (\d+)`)

func errLine(err error) int {
	if m := lineInErr.FindStringSubmatch(err.Error()); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n
		}
	}
	return 1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// get walks a mapping path; nil when any step is missing.
func get(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// keyLine is the line a mapping's key is written on, so a finding points at
// "spec:" rather than at the first field under it; the mapping's own line
// when the key is missing.
func keyLine(n *yaml.Node, key string) int {
	if n == nil {
		return 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return n.Line
}

// lineOf is a scalar's line, which is its key's line.
func lineOf(n *yaml.Node) int { return n.Line }

func scalar(n *yaml.Node) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", false
	}
	return n.Value, true
}

func checkDoc(file string, root *yaml.Node) ([]Finding, *app, *configMap) {
	apiVersion, _ := scalar(get(root, "apiVersion"))
	kind, _ := scalar(get(root, "kind"))
	namespace, _ := scalar(get(root, "metadata", "namespace"))
	kindNode := get(root, "kind")
	switch {
	case kind == "ConfigMap" && apiVersion == "v1":
		name, _ := scalar(get(root, "metadata", "name"))
		owners := get(root, "metadata", "ownerReferences")
		line := root.Line
		if n := get(root, "metadata", "name"); n != nil {
			line = n.Line
		}
		return nil, nil, &configMap{file: file, namespace: namespace, name: name, line: line,
			owned: owners != nil && owners.Kind == yaml.SequenceNode && len(owners.Content) > 0}
	case kind != "SparkApplication":
		return nil, nil, nil
	case strings.HasPrefix(apiVersion, kubeflowGroup):
		return kubeflow(file, root, lineOf(kindNode), namespace)
	case strings.HasPrefix(apiVersion, apacheGroup):
		return apache(file, root, lineOf(kindNode), namespace), nil, nil
	}
	return nil, nil, nil
}

func kubeflow(file string, root *yaml.Node, kindLine int, namespace string) ([]Finding, *app, *configMap) {
	var out []Finding
	spec := get(root, "spec")
	specLine := kindLine
	if spec != nil {
		specLine = keyLine(root, "spec")
	}
	if get(spec, "timeToLiveSeconds") == nil {
		out = append(out, Finding{
			File: file, Line: specLine, Rule: RuleMissingTTL,
			Message: "SparkApplication has no spec.timeToLiveSeconds: it and the driver Pod, which owns Spark's ConfigMaps, stay after it finishes",
			Remedy:  "spec: {timeToLiveSeconds: 3600}",
		})
	}
	conf := get(spec, "sparkConf")
	out = append(out, sparkConf(file, conf)...)
	var deps []*yaml.Node
	if n := get(spec, "mainApplicationFile"); n != nil {
		deps = append(deps, n)
	}
	for _, k := range []string{"files", "jars", "pyFiles"} {
		if n := get(spec, "deps", k); n != nil && n.Kind == yaml.SequenceNode {
			deps = append(deps, n.Content...)
		}
	}
	out = append(out, localDeps(file, conf, deps)...)

	a := &app{namespace: namespace}
	for _, k := range []string{"sparkConfigMap", "hadoopConfigMap"} {
		if v, ok := scalar(get(spec, k)); ok {
			a.userMaps = append(a.userMaps, v)
		}
	}
	for _, role := range []string{"driver", "executor"} {
		if cms := get(spec, role, "configMaps"); cms != nil && cms.Kind == yaml.SequenceNode {
			for _, c := range cms.Content {
				if v, ok := scalar(get(c, "name")); ok {
					a.userMaps = append(a.userMaps, v)
				}
			}
		}
	}
	if vols := get(spec, "volumes"); vols != nil && vols.Kind == yaml.SequenceNode {
		for _, v := range vols.Content {
			if name, ok := scalar(get(v, "configMap", "name")); ok {
				a.userMaps = append(a.userMaps, name)
			}
		}
	}
	return out, a, nil
}

func apache(file string, root *yaml.Node, _ int, _ string) []Finding {
	var out []Finding
	spec := get(root, "spec")
	tol := get(spec, "applicationTolerations")
	policyNode := get(tol, "resourceRetainPolicy")
	policy, _ := scalar(policyNode)
	if policy == "Always" || policy == "OnFailure" {
		// The operator releases the resources after the smaller of the two
		// durations that is not negative; both unset (default -1) keep them
		// for ever.
		bounded := false
		for _, k := range []string{"resourceRetainDurationMillis", "ttlAfterStopMillis"} {
			if v, ok := scalar(get(tol, k)); ok && (templated(v) || !strings.HasPrefix(strings.TrimSpace(v), "-")) {
				bounded = true
			}
		}
		if !bounded {
			out = append(out, Finding{
				File: file, Line: lineOf(policyNode), Rule: RuleRetainWithoutBound,
				Message: fmt.Sprintf("resourceRetainPolicy %s with neither resourceRetainDurationMillis nor ttlAfterStopMillis set: the driver Pod and its ConfigMaps are never released", policy),
				Remedy:  "spec: {applicationTolerations: {resourceRetainDurationMillis: 3600000}}",
			})
		}
	}
	conf := get(spec, "sparkConf")
	out = append(out, sparkConf(file, conf)...)
	var deps []*yaml.Node
	for _, k := range []string{"files", "jars", "pyFiles"} {
		if n := get(spec, k); n != nil {
			deps = append(deps, n)
		}
	}
	return append(out, localDeps(file, conf, deps)...)
}

func sparkConf(file string, conf *yaml.Node) []Finding {
	n := get(conf, deleteOnTermination)
	if v, ok := scalar(n); ok && strings.EqualFold(strings.TrimSpace(v), "false") {
		return []Finding{{
			File: file, Line: lineOf(n), Rule: RuleExecutorDeletion,
			Message: deleteOnTermination + "=false keeps finished executor Pods, and with them every map they mount",
			Remedy:  `sparkConf: {"` + deleteOnTermination + `": "true"}`,
		}}
	}
	return nil
}

// localDeps reports a dependency spark-submit must upload (file:// or no
// scheme) when nothing says where to: spark-submit then fails, or the
// operator's fallbacks leave more behind. Apache's fields are comma lists.
func localDeps(file string, conf *yaml.Node, deps []*yaml.Node) []Finding {
	if v, ok := scalar(get(conf, uploadPath)); ok && v != "" {
		return nil
	}
	for _, n := range deps {
		v, ok := scalar(n)
		if !ok {
			continue
		}
		for _, uri := range strings.Split(v, ",") {
			uri = strings.TrimSpace(uri)
			if uri == "" || templated(uri) || !isLocal(uri) {
				continue
			}
			return []Finding{{
				File: file, Line: lineOf(n), Rule: RuleLocalDeps,
				Message: fmt.Sprintf("%s is a local file spark-submit uploads, but sparkConf has no %s", uri, uploadPath),
				Remedy:  `sparkConf: {"` + uploadPath + `": "s3a://bucket/spark-uploads"} (or use local:// for files in the image)`,
			}}
		}
	}
	return nil
}

func isLocal(uri string) bool {
	if strings.HasPrefix(uri, "file:") {
		return true
	}
	return !strings.Contains(uri, "://")
}

// fallback reads a file the YAML parser could not, line by line, for the
// keys whose absence or value is a finding on its own. Each document is read
// separately.
func fallback(s Source) []Finding {
	var out []Finding
	text := string(s.Data)
	starts := []int{0}
	for _, loc := range docSeparator.FindAllStringIndex(text, -1) {
		starts = append(starts, loc[0])
	}
	starts = append(starts, len(text))
	for i := 0; i+1 < len(starts); i++ {
		doc := text[starts[i]:starts[i+1]]
		first := strings.Count(text[:starts[i]], "\n") + 1
		out = append(out, fallbackDoc(s.Name, doc, first)...)
	}
	return out
}

var (
	reKind      = regexp.MustCompile(`(?m)^kind:\s*SparkApplication\s*$`)
	reKubeflow  = regexp.MustCompile(`(?m)^apiVersion:\s*sparkoperator\.k8s\.io/`)
	reApache    = regexp.MustCompile(`(?m)^apiVersion:\s*spark\.apache\.org/`)
	reTTL       = regexp.MustCompile(`(?m)^\s*timeToLiveSeconds:`)
	reRetain    = regexp.MustCompile(`(?m)^\s*resourceRetainPolicy:\s*["']?(Always|OnFailure)["']?\s*$`)
	reRetainDur = regexp.MustCompile(`(?m)^\s*(resourceRetainDurationMillis|ttlAfterStopMillis):\s*[^-\s]`)
	reNoDelete  = regexp.MustCompile(`(?m)^.*["']?spark\.kubernetes\.executor\.deleteOnTermination["']?\s*:\s*["']?false["']?\s*$`)
)

func lineAt(doc string, first int, idx int) int { return first + strings.Count(doc[:idx], "\n") }

func fallbackDoc(file, doc string, first int) []Finding {
	k := reKind.FindStringIndex(doc)
	if k == nil {
		return nil
	}
	var out []Finding
	if reKubeflow.MatchString(doc) && !reTTL.MatchString(doc) {
		out = append(out, Finding{File: file, Line: lineAt(doc, first, k[0]), Rule: RuleMissingTTL,
			Message: "SparkApplication has no timeToLiveSeconds (read line by line)",
			Remedy:  "spec: {timeToLiveSeconds: 3600}"})
	}
	if reApache.MatchString(doc) && !reRetainDur.MatchString(doc) {
		if r := reRetain.FindStringIndex(doc); r != nil {
			out = append(out, Finding{File: file, Line: lineAt(doc, first, r[0]), Rule: RuleRetainWithoutBound,
				Message: "resourceRetainPolicy keeps resources with no duration set (read line by line)",
				Remedy:  "spec: {applicationTolerations: {resourceRetainDurationMillis: 3600000}}"})
		}
	}
	if d := reNoDelete.FindStringIndex(doc); d != nil {
		out = append(out, Finding{File: file, Line: lineAt(doc, first, d[0]), Rule: RuleExecutorDeletion,
			Message: deleteOnTermination + "=false keeps finished executor Pods (read line by line)",
			Remedy:  `sparkConf: {"` + deleteOnTermination + `": "true"}`})
	}
	return out
}

// FindingsError says the check ran and found something to fix: the command
// line exits 5 for it, the code for "ran, and found something to look at".
type FindingsError struct {
	Findings, Files int
}

func (e *FindingsError) Error() string {
	return fmt.Sprintf("%d finding(s) in %d file(s)", e.Findings, e.Files)
}

// Result is a check's findings and how many files it read, or an error of
// type *FindingsError when any finding is more than a note.
func Result(fs []Finding) error {
	files := map[string]bool{}
	n := 0
	for _, f := range fs {
		if !f.Note {
			n++
			files[f.File] = true
		}
	}
	if n == 0 {
		return nil
	}
	return &FindingsError{Findings: n, Files: len(files)}
}
