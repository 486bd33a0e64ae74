package rule

// Keep is the kind of reason the rule keeps a map for: what a report
// counts maps by and what the controller's metrics label them with. The
// words of a Reason vary with the objects; its kind does not.
type Keep string

// The kinds of reason a map is kept for, in the order a report lists them.
const (
	KeepRunning        Keep = "running"
	KeepInUse          Keep = "in-use"
	KeepTooYoung       Keep = "too-young"
	KeepOwnerlessQuiet Keep = "ownerless-not-quiet"
	KeepRetainPolicy   Keep = "retain-policy"
	KeepChanged        Keep = "changed-after-read"
	KeepAnnotation     Keep = "keep-annotation"
	KeepUserSupplied   Keep = "user-supplied"
	KeepOtherOwner     Keep = "another-owner"
	KeepOtherApp       Keep = "another-application"
	KeepNotSparks      Keep = "not-sparks"
	KeepStateUnknown   Keep = "state-unknown"
)

// Keeps lists every kind, in report order.
func Keeps() []Keep {
	return []Keep{KeepRunning, KeepInUse, KeepTooYoung, KeepOwnerlessQuiet, KeepRetainPolicy, KeepChanged,
		KeepAnnotation, KeepUserSupplied, KeepOtherOwner, KeepOtherApp, KeepNotSparks, KeepStateUnknown}
}

// Reason is why a map stays: its kind, and the one line the ledger shows.
// The zero Reason keeps nothing.
type Reason struct {
	Kind Keep
	Text string
}

// Keeps reports that the reason keeps the map.
func (r Reason) Keeps() bool { return r.Kind != "" }

func (r Reason) String() string { return r.Text }

// Because is a reason of kind k worded text.
func Because(k Keep, text string) Reason { return Reason{Kind: k, Text: text} }

// Running is the reason to keep the maps of an application that is live,
// for why it is (View.Live's words); none when why is "".
func Running(why string) Reason {
	if why == "" {
		return Reason{}
	}
	return Reason{Kind: KeepRunning, Text: "application still running: " + why}
}

// StateUnknown is the reason to keep the maps of an application whose
// state cannot be read, for why.
func StateUnknown(why string) Reason {
	return Reason{Kind: KeepStateUnknown, Text: "its SparkApplication's state cannot be known: " + why}
}
