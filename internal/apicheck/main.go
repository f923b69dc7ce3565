// Command apicheck writes or checks api/nanopipe.txt: one line per
// exported identifier of nanopipe's public packages, with its signature,
// in the manner of Go's own api/*.txt files. A change of the public API
// then shows as a diff of that file, to be reviewed like any other.
//
//	go run ./internal/apicheck -w   # rewrite api/nanopipe.txt
//	go run ./internal/apicheck      # compare, print the diff, exit 1 if it differs
//
// The test of this package runs the comparison, so `go test ./...` fails
// when the API changed and the file was not regenerated.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	write := flag.Bool("w", false, "rewrite the API file instead of comparing")
	root := flag.String("root", ".", "module root")
	flag.Parse()
	got, err := Generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apicheck:", err)
		os.Exit(2)
	}
	path := filepath.Join(*root, File)
	if *write {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "apicheck:", err)
			os.Exit(2)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apicheck:", err)
		os.Exit(2)
	}
	if d := Diff(string(want), string(got)); d != "" {
		fmt.Fprintf(os.Stderr, "apicheck: the public API differs from %s:\n%s\nIf the change is intended, regenerate the file: %s\n", File, d, Command)
		os.Exit(1)
	}
}
