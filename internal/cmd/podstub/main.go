// Command podstub is the process in the test node's own images: the Pod
// sandbox (what registry.k8s.io/pause does: wait for SIGTERM) and the stand-in
// for Spark's driver and executor containers (run for a while, then exit with
// a given code). It is static, so an image holds it and nothing else.
//
//	podstub                      wait for SIGTERM or SIGINT, exit 0
//	podstub -run 3s -exit 1      exit 1 after 3 s; on SIGTERM before then exit 143
//	podstub -term-delay 5s       on SIGTERM, go on for 5 s before exiting (a JVM's shutdown hooks)
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	run := flag.Duration("run", 0, "exit after this long (0: wait for a signal)")
	code := flag.Int("exit", 0, "exit code after -run")
	termDelay := flag.Duration("term-delay", 0, "on a signal, keep running this long before exiting")
	flag.Parse()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	stop := func(s os.Signal, exit int) {
		fmt.Printf("podstub: %s; stopping in %s\n", s, *termDelay)
		time.Sleep(*termDelay)
		os.Exit(exit)
	}
	if *run <= 0 {
		s := <-sig
		if *termDelay > 0 {
			stop(s, 128+int(s.(syscall.Signal)))
		}
		return
	}
	fmt.Printf("podstub: running for %s, then exit %d\n", *run, *code)
	select {
	case <-time.After(*run):
		os.Exit(*code)
	case s := <-sig:
		// What a JVM does on SIGTERM: 128 + the signal number.
		stop(s, 128+int(s.(syscall.Signal)))
	}
}
