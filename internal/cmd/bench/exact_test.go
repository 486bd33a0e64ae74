package main

import (
	"strings"
	"testing"
)

func TestTallyCountsEveryMapThatStayedAndShouldHaveGone(t *testing.T) {
	bl := &backlog{ns: "ns", maps: 6, inUse: []string{"a"}}
	ledger := `{"deleted":[{"namespace":"ns","name":"d","decision":"deleted"}],
		"skipped":[{"namespace":"ns","name":"a","decision":"skipped","reason":"in use by Pod consumer-0 (Running)"},
			{"namespace":"ns","name":"b","decision":"skipped","reason":"created or changed after its owners were read; judged on the next run"},
			{"namespace":"ns","name":"c","decision":"skipped","reason":"created or changed after its owners were read; judged on the next run"}],
		"failed":[{"namespace":"ns","name":"e","decision":"failed","reason":"not attempted: context canceled"}]}`
	for _, tc := range []struct {
		name        string
		left        []string
		wantOK      bool
		wantStayed  int
		wantKept    int
		wantReasons []string
	}{
		{name: "exactly the in-use map stays", left: []string{"a"}, wantOK: true, wantKept: 1},
		{name: "skipped and failed maps stay with their reasons", left: []string{"a", "b", "c", "e", "f"}, wantStayed: 4, wantKept: 1, wantReasons: []string{
			`2: "created or changed after its owners were read; judged on the next run"`, `1: "not attempted: context canceled"`, `1: "not in the ledger"`}},
		{name: "an in-use map lost fails too", left: nil, wantKept: 0},
		{name: "a map the ledger says is deleted but is still there", left: []string{"a", "d"}, wantStayed: 1, wantKept: 1, wantReasons: []string{
			`1: "still there though the ledger says deleted"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have := map[string]bool{}
			for _, n := range tc.left {
				have[n] = true
			}
			c, err := tally("sweep -n ns", []byte(ledger), map[string]map[string]bool{"ns": have}, []*backlog{bl})
			if err != nil {
				t.Fatal(err)
			}
			if c.ok() != tc.wantOK || c.stayed != tc.wantStayed || c.kept != tc.wantKept || c.gone != 5 || c.inUse != 1 {
				t.Fatalf("got ok %v, stayed %d, kept %d, gone %d, in use %d; want ok %v, stayed %d, kept %d, gone 5, in use 1",
					c.ok(), c.stayed, c.kept, c.gone, c.inUse, tc.wantOK, tc.wantStayed, tc.wantKept)
			}
			if strings.Join(c.reasons, "|") != strings.Join(tc.wantReasons, "|") {
				t.Fatalf("reasons = %q, want %q", c.reasons, tc.wantReasons)
			}
			if err := exactFailure([]exactCheck{c}); (err == nil) != tc.wantOK {
				t.Fatalf("exactFailure = %v, want an error: %v", err, !tc.wantOK)
			}
		})
	}
}

func TestTopReasonsFoldsTheRest(t *testing.T) {
	got := topReasons(map[string]int{"x": 5, "y": 3, "z": 3, "w": 1, "v": 2}, 3)
	want := `5: "x"|3: "y"|3: "z"|3 more under 2 other reasons`
	if strings.Join(got, "|") != want {
		t.Fatalf("topReasons = %q, want %q", got, want)
	}
}
