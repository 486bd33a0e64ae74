package hook

import "github.com/sparkcm-hook/sparkcm-hook/hook/kube"

// The plumbing's types that appear in this library's options, results and
// Clients are named here, so that a caller of the library needs only hook;
// they are defined, with their logic, in hook/kube.

// RetryPolicy bounds how the library retries transient API failures.
type RetryPolicy = kube.RetryPolicy

// Throttle adapts the requests in flight to the API server's 429s.
type Throttle = kube.Throttle

// ThrottleCounts are what a Throttle counted.
type ThrottleCounts = kube.ThrottleCounts

// ServerClock tells the API server's time from its answers.
type ServerClock = kube.ServerClock

// DefaultRetryBudget is the retry budget of a zero RetryPolicy.
const DefaultRetryBudget = kube.DefaultRetryBudget
