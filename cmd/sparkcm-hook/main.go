// Command sparkcm-hook deletes the ConfigMaps that Spark on Kubernetes leaves
// behind, and only those.
package main

import "os"

func main() {
	os.Exit(Run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
