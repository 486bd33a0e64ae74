package hook

import "testing"

// The permission tables are handed out afresh: a caller that edits what it
// was given (sorts it, appends, rewrites a command) changes nothing another
// caller is told, nor what the chart's Role is checked against.
func TestPermissionTablesCannotBeChangedByACaller(t *testing.T) {
	p := Permissions()
	want := p[0].Commands[0]
	p[0].Commands[0] = "changed"
	p[0].Verb = "changed"
	forCleanup := PermissionsFor(CommandCleanup)
	forCleanup[0].Commands[0] = "changed"
	all := PermissionsFor(CommandAll)
	all[0].Commands[0] = "changed"
	cmds := Commands()
	cmds[0] = "changed"
	if got := Permissions()[0]; got.Commands[0] != want || got.Verb == "changed" {
		t.Errorf("Permissions()[0] = %+v after a caller changed its copy", got)
	}
	if got := Commands()[0]; got != CommandCleanup {
		t.Errorf("Commands()[0] = %q after a caller changed its copy", got)
	}
	// Entries of one answer do not share their command lists either.
	p = Permissions()
	p[0].Commands[0] = "changed"
	for i, a := range p[1:] {
		for _, c := range a.Commands {
			if c == "changed" {
				t.Errorf("entry %d shares entry 0's command list", i+1)
			}
		}
	}
}
