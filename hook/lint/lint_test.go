package lint

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
)

func checkDir(t *testing.T, dir string) []string {
	t.Helper()
	src, err := Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range Check(src) {
		rel, _ := filepath.Rel(dir, f.File)
		got = append(got, fmt.Sprintf("%s:%d: %s", filepath.ToSlash(rel), f.Line, f.Rule))
	}
	return got
}

// The fixture DAG repository holds one of each defect; every one is found,
// at its line, and nothing else.
func TestCheckFindsEverySeededDefectInTheFixtureRepository(t *testing.T) {
	got := checkDir(t, "testdata/defects")
	want := []string{
		"dags/templates/apache-retain.yaml:9: retain-without-bound",
		"dags/templates/broken.yaml.j2:2: missing-ttl",
		"dags/templates/broken.yaml.j2:6: unparsed",
		"dags/templates/broken.yaml.j2:9: executor-deletion-disabled",
		"dags/templates/keep-executors.yaml.j2:9: local-deps-without-upload-path",
		"dags/templates/keep-executors.yaml.j2:11: executor-deletion-disabled",
		"dags/templates/no-ttl.yaml:6: missing-ttl",
		"dags/templates/no-ttl.yaml:16: user-map-without-owner",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
}

func TestCheckFindsNothingInACleanRepository(t *testing.T) {
	if got := checkDir(t, "testdata/clean"); len(got) != 0 {
		t.Errorf("findings in the clean repository: %q", got)
	}
}

func TestCheckRules(t *testing.T) {
	const kf = "apiVersion: sparkoperator.k8s.io/v1beta2\nkind: SparkApplication\nmetadata: {name: a, namespace: ns}\n"
	const ap = "apiVersion: spark.apache.org/v1\nkind: SparkApplication\nmetadata: {name: a}\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"a Kubeflow application without a TTL", kf + "spec: {type: Scala}\n", []string{"4: missing-ttl"}},
		{"a Kubeflow application with a TTL", kf + "spec: {timeToLiveSeconds: 60}\n", nil},
		{"a templated TTL counts as set", kf + "spec:\n  timeToLiveSeconds: {{ ttl }}\n", nil},
		{"executor deletion disabled, quoted", kf + "spec:\n  timeToLiveSeconds: 1\n  sparkConf:\n    spark.kubernetes.executor.deleteOnTermination: \"false\"\n", []string{"7: executor-deletion-disabled"}},
		{"executor deletion disabled, a YAML bool", kf + "spec:\n  timeToLiveSeconds: 1\n  sparkConf:\n    spark.kubernetes.executor.deleteOnTermination: false\n", []string{"7: executor-deletion-disabled"}},
		{"executor deletion enabled", kf + "spec:\n  timeToLiveSeconds: 1\n  sparkConf:\n    spark.kubernetes.executor.deleteOnTermination: \"true\"\n", nil},
		{"a local main file without an upload path", kf + "spec:\n  timeToLiveSeconds: 1\n  mainApplicationFile: app.py\n", []string{"6: local-deps-without-upload-path"}},
		{"a file:// jar without an upload path", kf + "spec:\n  timeToLiveSeconds: 1\n  deps:\n    jars: [\"file:///x.jar\"]\n", []string{"7: local-deps-without-upload-path"}},
		{"a local file with an upload path", kf + "spec:\n  timeToLiveSeconds: 1\n  mainApplicationFile: app.py\n  sparkConf: {spark.kubernetes.file.upload.path: s3a://b/u}\n", nil},
		{"local:// and remote files need no upload", kf + "spec:\n  timeToLiveSeconds: 1\n  mainApplicationFile: local:///app.py\n  deps: {files: [\"s3a://b/f\"]}\n", nil},
		{"Apache Always without durations", ap + "spec:\n  applicationTolerations:\n    resourceRetainPolicy: Always\n", []string{"6: retain-without-bound"}},
		{"Apache OnFailure with both durations -1", ap + "spec:\n  applicationTolerations:\n    resourceRetainPolicy: OnFailure\n    resourceRetainDurationMillis: -1\n    ttlAfterStopMillis: -1\n", []string{"6: retain-without-bound"}},
		{"Apache Always with a TTL after stop", ap + "spec:\n  applicationTolerations:\n    resourceRetainPolicy: Always\n    ttlAfterStopMillis: 0\n", nil},
		{"Apache default retain policy (Never)", ap + "spec: {mainClass: x}\n", nil},
		{"Apache local jars in the comma list", ap + "spec:\n  jars: local:///a.jar,/opt/b.jar\n", []string{"5: local-deps-without-upload-path"}},
		{"a supplied map without an owner", kf + "spec: {timeToLiveSeconds: 1, driver: {configMaps: [{name: m, path: /m}]}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\n  namespace: ns\n", []string{"9: user-map-without-owner"}},
		{"a supplied volume map without an owner", kf + "spec: {timeToLiveSeconds: 1, volumes: [{name: v, configMap: {name: m}}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: m, namespace: ns}\n", []string{"8: user-map-without-owner"}},
		{"a supplied map in another namespace is another map", kf + "spec: {timeToLiveSeconds: 1, sparkConfigMap: m}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: m, namespace: other}\n", nil},
		{"a map no application references", kf + "spec: {timeToLiveSeconds: 1}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: m, namespace: ns}\n", nil},
		{"a supplied map with an owner", kf + "spec: {timeToLiveSeconds: 1, hadoopConfigMap: m}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: m, namespace: ns, ownerReferences: [{kind: SparkApplication, name: a}]}\n", nil},
		{"not a SparkApplication", "apiVersion: apps/v1\nkind: Deployment\nspec: {}\n", nil},
		{"unparsable, not Spark: silent", "a: [\n", nil},
		{"unparsable Spark: a note and the line-based pass", kf + "spec: {\n", []string{"4: unparsed", "2: missing-ttl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range Check([]Source{{Name: "f.yaml", Data: []byte(tc.yaml)}}) {
				got = append(got, fmt.Sprintf("%d: %s", f.Line, f.Rule))
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestOnlyNotesDoNotFail(t *testing.T) {
	if Result([]Finding{{Rule: RuleUnparsed, Note: true}}) != nil {
		t.Error("a note alone fails the check")
	}
	if Result([]Finding{{Rule: RuleUnparsed, Note: true}, {Rule: RuleMissingTTL}}) == nil {
		t.Error("a finding does not fail the check")
	}
}
