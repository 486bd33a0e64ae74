package rbac

// Defaults of the options, all here; the command line shows these same
// values in --help.
const (
	// DefaultOwnPods selects the Pods of sparkcm-hook itself (the chart's
	// sweep): a grant shared with any other Pod is flagged.
	DefaultOwnPods = "app.kubernetes.io/name=sparkcm-hook"
	// DefaultPodNames is how many Pod and owner names inventory keeps per
	// account.
	DefaultPodNames = 10
)
