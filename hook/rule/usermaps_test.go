package rule

import (
	"maps"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Every field through which a SparkApplication hands a map of its own to
// Spark makes the map user-supplied: cleanup and sweep keep it, adopt
// gives it owners. Fields of another shape are read as naming nothing.
func TestUserSuppliedMapsAreReadFromEverySpecFieldThatNamesOne(t *testing.T) {
	spec := map[string]any{
		"sparkConfigMap":  "defaults",
		"hadoopConfigMap": "site",
		"driver":          map[string]any{"configMaps": []any{map[string]any{"name": "driver-extra", "path": "/etc/x"}}},
		"executor":        map[string]any{"configMaps": []any{map[string]any{"name": "exec-extra"}}},
		"volumes": []any{
			map[string]any{"name": "a", "configMap": map[string]any{"name": "mounted"}},
			map[string]any{"name": "b", "projected": map[string]any{"sources": []any{
				map[string]any{"configMap": map[string]any{"name": "projected"}},
				map[string]any{"secret": map[string]any{"name": "not-a-map"}},
			}}},
			map[string]any{"name": "c", "emptyDir": map[string]any{}},
			"not an object",
			map[string]any{"name": "d", "configMap": "not an object"},
		},
	}
	a := ParseSparkApp(&unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "etl"}, "spec": spec}})
	want := map[string]string{
		"defaults": "spec.sparkConfigMap", "site": "spec.hadoopConfigMap",
		"driver-extra": "spec.driver.configMaps", "exec-extra": "spec.executor.configMaps",
		"mounted": "spec.volumes", "projected": "spec.volumes",
	}
	if !maps.Equal(a.UserMaps, want) {
		t.Errorf("user-supplied maps %v, want %v", a.UserMaps, want)
	}
}
