package hook

import (
	"encoding/json"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
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
	Kind     rule.MapKind  `json:"kind,omitempty"`
	AppID    string        `json:"appId,omitempty"`
	Age      time.Duration `json:"-"`
	AgeText  string        `json:"age,omitempty"`
	Decision Decision      `json:"decision"`
	Reason   string        `json:"reason,omitempty"`
	// Keep is the kind of Reason a skipped map was kept for (in-use,
	// running, too-young, ...: rule.Keeps), for tools that count them.
	Keep rule.Keep `json:"keep,omitempty"`

	// What the delete and the re-check before it need: the delete's
	// resourceVersion precondition (exactly what was judged), the ids whose
	// Pods must still be quiet, the SparkApplication whose finished state
	// the judgement rested on.
	resourceVersion string
	appIDs          []string
	appName         string
	appUID          types.UID
	appGroup        string // its API group: which operator's application it is
	// origin is what the judgement saw of where the map came from: the
	// report attributes each map to a cause from it.
	origin origin
	// checkedAt is when the last re-check of the Pods (and the
	// application) this entry rests on began, on the retry policy's clock.
	checkedAt time.Time
}

// skip keeps the entry for r.
func (e *Entry) skip(r rule.Reason) {
	e.Decision, e.Reason, e.Keep = Skipped, r.Text, r.Kind
}

// Result is what one cleanup or sweep did. On stdout (-o json, yaml) it is
// a Document.
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
func (r *Result) count(e Entry) { r.Counts.add(e) }

// add counts one entry under its decision.
func (c *Counts) add(e Entry) {
	switch e.Decision {
	case Deleted, WouldDelete:
		c.Deleted++
	case Failed:
		c.Failed++
	default:
		c.Skipped++
	}
}

// add files an entry under the list its decision names, and counts it. A
// dry run's would-delete entries are listed under Deleted, flagged by
// DryRun.
// file puts an entry in the list its decision belongs to.
func (r *Result) file(e Entry) {
	switch e.Decision {
	case Deleted, WouldDelete:
		r.Deleted = append(r.Deleted, e)
	case Failed:
		r.Failed = append(r.Failed, e)
	default:
		r.Skipped = append(r.Skipped, e)
	}
}

func (r *Result) add(e Entry) {
	r.count(e)
	if e.Age > 0 {
		e.AgeText = e.Age.Round(time.Second).String()
	}
	r.file(e)
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

// Document is the shape of a Result on stdout (-o json and yaml): every
// entry in one list, in the order decided, each with its decision, and then
// the summary. The summary comes last because a sweep knows it only at the
// end, and the entries stream out as they are decided: a ledger of any size
// is printed without holding it or writing it anywhere but stdout.
type Document struct {
	Entries []Entry `json:"entries"`
	Summary
}

// Summary is what a Document says after its entries.
type Summary struct {
	Namespace  string          `json:"namespace"`
	AppIDs     []string        `json:"appIds"`
	DryRun     bool            `json:"dryRun"`
	Seconds    float64         `json:"seconds"`
	Retries    int             `json:"retries"`
	Throttled  int             `json:"throttled"`
	Counts     Counts          `json:"counts"`
	Unreadable []NamespaceNote `json:"unreadableNamespaces,omitempty"`
}

// Summary is the result without its entries.
func (r *Result) Summary() Summary {
	ids := r.AppIDs
	if ids == nil {
		ids = []string{}
	}
	return Summary{Namespace: r.Namespace, AppIDs: ids, DryRun: r.DryRun, Seconds: r.Seconds,
		Retries: r.Retries, Throttled: r.Throttled, Counts: r.Counts, Unreadable: r.Unreadable}
}

// MarshalJSON writes the Document: the entries the result holds (deleted,
// failed, skipped), then the summary.
func (r Result) MarshalJSON() ([]byte, error) {
	d := Document{Summary: r.Summary()}
	d.Entries = make([]Entry, 0, len(r.Deleted)+len(r.Failed)+len(r.Skipped))
	for _, l := range [][]Entry{r.Deleted, r.Failed, r.Skipped} {
		d.Entries = append(d.Entries, l...)
	}
	return json.Marshal(d)
}

// UnmarshalJSON reads the Document back into a Result, filing each entry
// under the list its decision names. It also reads the shape printed
// before the Document (the entries grouped under deleted, skipped and
// failed), so that a consumer reads what any version printed.
func (r *Result) UnmarshalJSON(b []byte) error {
	var d struct {
		Document
		Deleted []Entry `json:"deleted"`
		Skipped []Entry `json:"skipped"`
		Failed  []Entry `json:"failed"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	*r = Result{Namespace: d.Namespace, AppIDs: d.AppIDs, DryRun: d.DryRun, Seconds: d.Seconds, Retries: d.Retries,
		Throttled: d.Throttled, Counts: d.Counts, Unreadable: d.Unreadable,
		Deleted: d.Deleted, Skipped: d.Skipped, Failed: d.Failed}
	for _, e := range d.Entries {
		r.file(e)
	}
	r.Elapsed = time.Duration(r.Seconds * float64(time.Second))
	r.normalize()
	r.Seconds = d.Seconds // exactly what was printed, not rounded through Elapsed
	return nil
}
