package hook

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Decision is what the tool did with one ConfigMap.
type Decision string

// The decisions: every map considered ends up with one.
const (
	Deleted Decision = "deleted"
	Skipped Decision = "skipped"
	Failed  Decision = "failed"
	// WouldDelete is the decision under --dry-run for a map that a real run
	// would delete.
	WouldDelete Decision = "would-delete"
)

// Entry is one ConfigMap considered, with the decision and why.
type Entry struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Kind is what Spark made the map for (driver-conf, executor-conf,
	// pod-template, hadoop-conf, krb5, operator-prom-conf) or "unknown".
	Kind     MapKind       `json:"kind,omitempty"`
	AppID    string        `json:"appId,omitempty"`
	Age      time.Duration `json:"-"`
	AgeText  string        `json:"age,omitempty"`
	Decision Decision      `json:"decision"`
	Reason   string        `json:"reason,omitempty"`

	// What the delete and the re-check before it need: the delete's
	// resourceVersion precondition (exactly what was judged), the ids whose
	// Pods must still be quiet, the SparkApplication whose finished state
	// the judgement rested on.
	resourceVersion string
	appIDs          []string
	appName         string
	appUID          types.UID
	// checkedAt is when the last re-check of the Pods (and the
	// application) this entry rests on began, on the retry policy's clock.
	checkedAt time.Time
}

// Result is what one cleanup or sweep did. It is the command's stdout.
type Result struct {
	Namespace string   `json:"namespace"`
	AppIDs    []string `json:"appIds"`
	DryRun    bool     `json:"dryRun"`
	Deleted   []Entry  `json:"deleted"`
	Skipped   []Entry  `json:"skipped"`
	Failed    []Entry  `json:"failed"`
	// Counts are the lists' lengths; a sweep that hands its entries to
	// SweepOptions.Record keeps only these.
	Counts Counts `json:"counts"`
	// Unreadable are the namespaces a sweep over all namespaces could not
	// read and skipped.
	Unreadable []NamespaceNote `json:"unreadableNamespaces,omitempty"`
	// Retries counts the answers during the run that turned a request away
	// for a while (429, 5xx, a broken, timed-out or refused connection),
	// each followed by another try unless its budget ran out; Throttled
	// counts the 429s among them. Both come from Clients.Throttle.
	Retries   int `json:"retries"`
	Throttled int `json:"throttled"`
	// Elapsed is the wall time of the run.
	Elapsed time.Duration `json:"-"`
	Seconds float64       `json:"seconds"`
}

// countRetries sets Retries and Throttled to what the throttle counted
// since before.
func (r *Result) countRetries(t *Throttle, before ThrottleCounts) {
	now := t.Counts()
	r.Retries, r.Throttled = now.Retried-before.Retried, now.Throttled-before.Throttled
}

// Counts says how many maps were deleted (or would be, in a dry run),
// skipped and failed.
type Counts struct {
	Deleted int `json:"deleted"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
}

func (c Counts) total() int { return c.Deleted + c.Skipped + c.Failed }

// NamespaceNote is a namespace a sweep left alone, and why.
type NamespaceNote struct {
	Namespace string `json:"namespace"`
	Reason    string `json:"reason"`
}

// count adds an entry to the counts only.
func (r *Result) count(e Entry) {
	switch e.Decision {
	case Deleted, WouldDelete:
		r.Counts.Deleted++
	case Failed:
		r.Counts.Failed++
	default:
		r.Counts.Skipped++
	}
}

// add files an entry under the list its decision names, and counts it. A
// dry run's would-delete entries are listed under Deleted, flagged by
// DryRun.
func (r *Result) add(e Entry) {
	r.count(e)
	if e.Age > 0 {
		e.AgeText = e.Age.Round(time.Second).String()
	}
	switch e.Decision {
	case Deleted, WouldDelete:
		r.Deleted = append(r.Deleted, e)
	case Failed:
		r.Failed = append(r.Failed, e)
	default:
		r.Skipped = append(r.Skipped, e)
	}
}

// normalize makes empty lists render as [] rather than null.
func (r *Result) normalize() {
	if r.AppIDs == nil {
		r.AppIDs = []string{}
	}
	if r.Deleted == nil {
		r.Deleted = []Entry{}
	}
	if r.Skipped == nil {
		r.Skipped = []Entry{}
	}
	if r.Failed == nil {
		r.Failed = []Entry{}
	}
	r.Seconds = r.Elapsed.Seconds()
}
