package main

import "github.com/go-logr/logr"

// klogDiscard silences client-go's klog output below -v 2.
func klogDiscard() logr.Logger { return logr.Discard() }
