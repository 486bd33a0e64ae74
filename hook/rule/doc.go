// Package rule is sparkcm-hook's deletion rule, and nothing else: given
// what was read about an application (its driver Pod, its
// SparkApplication, its other Pods) and one ConfigMap's metadata, it says
// whether the map is Spark's for that application, whether the
// application still runs, whether the map is old enough, and when not, why.
// It reads nothing itself and imports no client (a test checks), so every
// mode (cleanup, sweep, watch, report) shares it and its table test runs
// without a cluster. docs/deletion.md states the same rule in prose;
// docs/architecture.md shows where it sits.
package rule
