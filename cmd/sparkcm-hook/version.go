package main

import (
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// The version stamps, set at build time by hack/version.sh through
// -ldflags "-X main.version=... -X main.commit=... -X main.date=...": the
// VERSION file's version (with the commit for a build that is not the
// tagged release), the commit, and the commit's date (never the wall
// clock's, so two builds of one commit are identical).
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// stamps returns the version, commit and date, filled in from what the Go
// toolchain recorded when the linker was not told: `go install
// .../cmd/sparkcm-hook@v0.2.0` records the module version, a build in a git
// checkout the commit and its time.
func stamps() (v, c, d string) {
	v, c, d = version, commit, date
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v, c, d
	}
	if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = strings.TrimPrefix(info.Main.Version, "v")
	}
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision" && c == "":
			c = s.Value
		case s.Key == "vcs.time" && d == "":
			d = s.Value
		}
	}
	return v, c, d
}

// versionLine is what `version` and --version print: one line that starts
// with the program's name and version, so `cut -d' ' -f2` reads it.
func versionLine(prog string) string {
	v, c, d := stamps()
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	return fmt.Sprintf("%s %s (commit %s, built %s)", prog, v, c, d)
}

// pluginName is the program's name when kubectl runs it as a plugin:
// kubectl finds `kubectl-sparkcm` on PATH and runs it for `kubectl sparkcm`.
const pluginName = "kubectl sparkcm"

// programName is how help and errors name the program: as the user typed it.
func programName(argv0 string) string {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if base == "kubectl-sparkcm" {
		return pluginName
	}
	return "sparkcm-hook"
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, the commit and the build date",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintln(c.App.Writer, versionLine(c.App.Name))
			return err
		},
	}
}

// appVersion is the version alone, for the VERSION line of --help.
func appVersion() string {
	v, _, _ := stamps()
	return v
}
