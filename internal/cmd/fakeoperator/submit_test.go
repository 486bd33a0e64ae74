package main

import (
	"testing"

	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// The application's own labels go on the driver only, as the operator sets
// them; both roles carry the operator's labels and their own settings.
func TestSubmitConfLabelsTheDriverWithTheApplicationsLabels(t *testing.T) {
	spec := map[string]any{
		"image":     "spark:3.5",
		"sparkConf": map[string]any{"spark.ui.enabled": "false"},
		"driver":    map[string]any{"serviceAccount": "spark", "memory": "512m", "labels": map[string]any{"role": "d"}},
		"executor":  map[string]any{"instances": int64(2), "cores": int64(1)},
	}
	conf := submitConf(spec, "pi", map[string]string{"team": "a"}, "sub-1")
	for k, want := range map[string]string{
		"spark.ui.enabled":                                                     "false",
		"spark.kubernetes.container.image":                                     "spark:3.5",
		"spark.kubernetes.driver.pod.name":                                     "pi-driver",
		"spark.kubernetes.driver.label.team":                                   "a",
		"spark.kubernetes.driver.label.role":                                   "d",
		"spark.kubernetes.driver.label." + sparkfixture.LabelSubmissionID:      "sub-1",
		"spark.kubernetes.executor.label." + sparkfixture.LabelOperatorAppName: "pi",
		"spark.driver.memory":                                                  "512m",
		"spark.executor.cores":                                                 "1",
		"spark.executor.instances":                                             "2",
		"spark.kubernetes.authenticate.driver.serviceAccountName":              "spark",
	} {
		if conf[k] != want {
			t.Errorf("conf[%q] = %q, want %q", k, conf[k], want)
		}
	}
	if v, ok := conf["spark.kubernetes.executor.label.team"]; ok {
		t.Errorf("executor carries the application's label team=%q", v)
	}
}
