// Command cmd writes the pictures of the example pipelines from their
// declarations: examples/NAME/pipeline.mmd (Mermaid), pipeline.dot
// (Graphviz) and, when Graphviz's dot is installed
// (scripts/docs-setup.sh installs it), pipeline.svg. From the repository
// root:
//
//	go run ./internal/diagram/cmd          # write them
//	go run ./internal/diagram/cmd -check   # fail when one is out of date
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/nanopipe/nanopipe/examples/ingest/app"
	photos "github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/internal/diagram"
	"github.com/nanopipe/nanopipe/pipeline"
)

// examples are the apps drawn, by their folder under examples/.
var examples = map[string]*pipeline.App{
	"photos": photos.App,
	"ingest": app.App,
}

// files returns the text files of one example's picture, by file name.
func files(a *pipeline.App) map[string][]byte {
	return map[string][]byte{
		"pipeline.mmd": []byte(diagram.Mermaid(a)),
		"pipeline.dot": []byte(diagram.DOT(a)),
	}
}

func main() {
	root := flag.String("root", ".", "the repository root")
	check := flag.Bool("check", false, "only report pictures that differ from the declarations")
	flag.Parse()
	stale, err := run(*root, *check)
	if err != nil {
		fmt.Fprintln(os.Stderr, "diagram:", err)
		os.Exit(1)
	}
	if len(stale) > 0 {
		fmt.Fprintf(os.Stderr, "diagram: out of date: %v; run go run ./internal/diagram/cmd\n", stale)
		os.Exit(1)
	}
}

// run writes (or, with check, compares) every example's picture and
// returns the files that were out of date.
func run(root string, check bool) ([]string, error) {
	names := make([]string, 0, len(examples))
	for n := range examples {
		names = append(names, n)
	}
	sort.Strings(names)
	var stale []string
	for _, name := range names {
		dir := filepath.Join(root, "examples", name)
		for file, want := range files(examples[name]) {
			path := filepath.Join(dir, file)
			got, _ := os.ReadFile(path)
			if bytes.Equal(got, want) {
				continue
			}
			stale = append(stale, path)
			if !check {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					return nil, err
				}
			}
		}
		if check {
			continue
		}
		if _, err := exec.LookPath("dot"); err != nil {
			fmt.Fprintf(os.Stderr, "diagram: Graphviz dot not found, %s/pipeline.svg not written (scripts/docs-setup.sh installs it)\n", dir)
			continue
		}
		cmd := exec.Command("dot", "-Tsvg", "-o", filepath.Join(dir, "pipeline.svg"), filepath.Join(dir, "pipeline.dot"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("dot: %v\n%s", err, out)
		}
	}
	if check {
		return stale, nil
	}
	return nil, nil
}
