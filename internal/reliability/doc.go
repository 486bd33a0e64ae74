// Package reliability holds the property test of the whole tool: seeded
// random namespaces, seeded faults, every command, an oracle written from
// docs/deletion.md's deletion rule. `make test` runs a small sample, `make
// reliability` a large one. It has no code of its own outside its tests.
package reliability
