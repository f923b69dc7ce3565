package bench_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanopipe/nanopipe/cdk/bench"
)

// harness holds what both sides need: the built gosynth command, the
// node_modules with aws-cdk-lib, and a stand-in bootstrap asset.
type harness struct {
	gosynth, nodeModules, appJS, asset string
}

var (
	once   sync.Once
	shared harness
	setup  error
)

func newHarness(tb testing.TB) harness {
	tb.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		tb.Fatal(err)
	}
	nm := filepath.Join(root, ".tools", "node_modules")
	if _, err := os.Stat(filepath.Join(nm, "aws-cdk-lib", "package.json")); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("aws-cdk-lib is not installed (%v); scripts/setup.sh runs scripts/cdk-setup.sh", err)
		}
		tb.Skipf("aws-cdk-lib is not installed; run scripts/cdk-setup.sh (%v)", err)
	}
	once.Do(func() {
		dir, err := os.MkdirTemp("", "nanopipe-bench-")
		if err != nil {
			setup = err
			return
		}
		shared = harness{
			gosynth:     filepath.Join(dir, "gosynth"),
			nodeModules: nm,
			appJS:       filepath.Join(root, "cdk", "bench", "js", "app.js"),
			asset:       filepath.Join(dir, "asset"),
		}
		if err := os.Mkdir(shared.asset, 0o755); err != nil {
			setup = err
			return
		}
		if err := os.WriteFile(filepath.Join(shared.asset, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			setup = err
			return
		}
		if out, err := exec.Command("go", "build", "-o", shared.gosynth, "./gosynth").CombinedOutput(); err != nil {
			setup = fmt.Errorf("go build ./gosynth: %v\n%s", err, out)
		}
	})
	if setup != nil {
		tb.Fatal(setup)
	}
	return shared
}

// environ is the environment of both sides: validation off, jsii quiet.
func environ(h harness) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CDK_VALIDATION=") && !strings.HasPrefix(kv, "NODE_PATH=") {
			env = append(env, kv)
		}
	}
	return append(env, "CDK_VALIDATION=false", "NODE_PATH="+h.nodeModules, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20")
}

// timing is one synth: the whole process, start to exit, and the part
// from an empty stack to the written assembly (bench.PhaseLine).
type timing struct{ total, phase time.Duration }

func (t *timing) add(o timing) { t.total += o.total; t.phase += o.phase }

// synthGo and synthJS run one synth of an n-stage app into a fresh
// directory.
func (h harness) synthGo(tb testing.TB, n int, out string) timing {
	return h.run(tb, out, exec.Command(h.gosynth, "-stages", fmt.Sprint(n), "-out", out, "-asset", h.asset))
}

func (h harness) synthJS(tb testing.TB, n int, out string) timing {
	return h.run(tb, out, exec.Command("node", h.appJS, fmt.Sprint(n), out, h.asset))
}

func (h harness) run(tb testing.TB, out string, cmd *exec.Cmd) timing {
	tb.Helper()
	os.RemoveAll(out)
	cmd.Env = environ(h)
	start := time.Now()
	b, err := cmd.Output()
	t := timing{total: time.Since(start)}
	if err != nil {
		tb.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, bench.PhaseLine); ok {
			s, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				tb.Fatalf("%s: %q: %v", cmd, line, err)
			}
			t.phase = time.Duration(s * float64(time.Second))
		}
	}
	if t.phase == 0 {
		tb.Fatalf("%s printed no %q line:\n%s", cmd, bench.PhaseLine, b)
	}
	return t
}

// resourceTypes counts a synthesized template's resources by type, and
// its outputs.
func resourceTypes(tb testing.TB, out string) map[string]int {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(out, "Bench.template.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct{ Type string }
		Outputs   map[string]any
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		tb.Fatal(err)
	}
	// The stack outputs count as one more kind.
	counts := map[string]int{"(stack outputs)": len(tmpl.Outputs)}
	for _, r := range tmpl.Resources {
		counts[r.Type]++
	}
	return counts
}

// TestSameResources keeps the benchmark fair: the Go construct and the
// hand-written JavaScript app produce the same resources, type by type.
func TestSameResources(t *testing.T) {
	if testing.Short() {
		t.Skip("runs both synths; skipped with -short")
	}
	h := newHarness(t)
	dir := t.TempDir()
	for _, n := range []int{1, 10} {
		t.Run(fmt.Sprintf("stages=%d", n), func(t *testing.T) {
			goOut, jsOut := filepath.Join(dir, "go"), filepath.Join(dir, "js")
			h.synthGo(t, n, goOut)
			h.synthJS(t, n, jsOut)
			g, j := resourceTypes(t, goOut), resourceTypes(t, jsOut)
			if !maps.Equal(g, j) {
				for _, typ := range slices.Sorted(maps.Keys(mergeKeys(g, j))) {
					if g[typ] != j[typ] {
						t.Errorf("%s: Go %d, JavaScript %d", typ, g[typ], j[typ])
					}
				}
			}
			if fns := g["AWS::Lambda::Function"]; fns != n+1 { // + CDK's notifications handler
				t.Errorf("%d functions, want %d", fns, n+1)
			}
		})
	}
}

func mergeKeys(a, b map[string]int) map[string]int {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

// BenchmarkSynth times whole synth processes, as the CDK CLI runs an
// app: the Go construct's (gosynth) and the hand-written JavaScript
// app's, alternating which goes first. It reports seconds per synth of
// each (go-s/op, js-s/op) and their ratio (go/js), and the same for the
// part from an empty stack to the written assembly (go-build-s/op,
// js-build-s/op, build-go/js), which leaves out what no construct can
// change: starting node, and for Go the jsii kernel and its assemblies.
//
//	go test ./cdk/bench -run '^$' -bench Synth -benchtime 5x
func BenchmarkSynth(b *testing.B) {
	h := newHarness(b)
	dir := b.TempDir()
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("stages=%d", n), func(b *testing.B) {
			goOut, jsOut := filepath.Join(dir, "go"), filepath.Join(dir, "js")
			var goT, jsT timing
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					goT.add(h.synthGo(b, n, goOut))
					jsT.add(h.synthJS(b, n, jsOut))
				} else {
					jsT.add(h.synthJS(b, n, jsOut))
					goT.add(h.synthGo(b, n, goOut))
				}
			}
			per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
			b.ReportMetric(per(goT.total), "go-s/op")
			b.ReportMetric(per(jsT.total), "js-s/op")
			b.ReportMetric(goT.total.Seconds()/jsT.total.Seconds(), "go/js")
			b.ReportMetric(per(goT.phase), "go-build-s/op")
			b.ReportMetric(per(jsT.phase), "js-build-s/op")
			b.ReportMetric(goT.phase.Seconds()/jsT.phase.Seconds(), "build-go/js")
		})
	}
}
