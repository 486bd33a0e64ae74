package faults

import (
	"context"
	"io"
	"net"
	"testing"

	"k8s.io/client-go/rest"
)

// The wire's count of broken connections is the evidence the fault tests
// rest on: a connection the far side breaks counts, one the client closes
// itself does not. In-process sockets only, so it runs under -short.
func TestWireCountsOnlyConnectionsBrokenUnderTheClient(t *testing.T) {
	for _, tc := range []struct {
		name       string
		serverEnds func(c *net.TCPConn) // nil: the client closes first
		broken     int64
	}{
		{name: "reset by the far side", serverEnds: func(c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() }, broken: 1},
		{name: "closed by the far side", serverEnds: func(c *net.TCPConn) { _ = c.Close() }, broken: 1},
		{name: "closed by the client", broken: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan *net.TCPConn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					close(accepted)
					return
				}
				_, _ = c.Write([]byte("hello"))
				accepted <- c.(*net.TCPConn)
			}()
			var w Wire
			cfg := w.Config(&rest.Config{})
			c, err := cfg.Dial(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			server := <-accepted
			defer server.Close()
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			if tc.serverEnds != nil {
				tc.serverEnds(server)
				if _, err := c.Read(buf); err == nil {
					t.Fatal("read after the far side ended succeeded")
				}
				_ = c.Close()
			} else {
				_ = c.Close()
				if _, err := c.Read(buf); err == nil {
					t.Fatal("read after close succeeded")
				}
			}
			if w.Conns() != 1 || w.Bytes() != 5 || w.Broken() != tc.broken {
				t.Fatalf("conns %d, bytes %d, broken %d; want 1, 5, %d", w.Conns(), w.Bytes(), w.Broken(), tc.broken)
			}
		})
	}
}
