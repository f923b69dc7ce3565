package main

import (
	"flag"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the pictures of the examples")

// TestPicturesMatchDeclarations fails when a committed picture of an
// example no longer matches its declaration. Regenerate with
//
//	go run ./internal/diagram/cmd
//
// or go test ./internal/diagram/cmd -update.
func TestPicturesMatchDeclarations(t *testing.T) {
	stale, err := run("../../..", !*update)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range stale {
		t.Errorf("%s does not match the declaration; run go run ./internal/diagram/cmd", f)
	}
}
