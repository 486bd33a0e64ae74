package kubecluster_test

import (
	"os"
	"testing"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// cp is shared by the package's tests, started by the first that needs it;
// each works in its own namespace.
var cp = kubecluster.NewShared(kubecluster.Options{ControllerManager: true})

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelper() // never returns
	}
	if os.Getenv(nodeHelperEnv) != "" {
		runNodeHelper() // never returns
	}
	os.Exit(cp.RunMain(m))
}
