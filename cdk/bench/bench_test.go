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
	gosynth, l2synth, nodeModules, appJS, asset string
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
			l2synth:     filepath.Join(dir, "l2synth"),
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
		for _, cmd := range []string{"gosynth", "l2synth"} {
			if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "./"+cmd).CombinedOutput(); err != nil {
				setup = fmt.Errorf("go build ./%s: %v\n%s", cmd, err, out)
				return
			}
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

func (h harness) synthL2(tb testing.TB, n int, out string) timing {
	return h.run(tb, out, exec.Command(h.l2synth, "-stages", fmt.Sprint(n), "-out", out, "-asset", h.asset))
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

// TestSameResources keeps the benchmark fair: the Go construct, the
// hand-written JavaScript app and the hand-written Go L2 app produce the
// same resources, type by type, and the same number of outputs.
func TestSameResources(t *testing.T) {
	if testing.Short() {
		t.Skip("runs both synths; skipped with -short")
	}
	h := newHarness(t)
	dir := t.TempDir()
	for _, n := range []int{1, 10} {
		t.Run(fmt.Sprintf("stages=%d", n), func(t *testing.T) {
			goOut, jsOut, l2Out := filepath.Join(dir, "go"), filepath.Join(dir, "js"), filepath.Join(dir, "l2")
			h.synthGo(t, n, goOut)
			h.synthJS(t, n, jsOut)
			h.synthL2(t, n, l2Out)
			g := resourceTypes(t, goOut)
			for peer, out := range map[string]string{"JavaScript": jsOut, "Go L2": l2Out} {
				p := resourceTypes(t, out)
				if !maps.Equal(g, p) {
					for _, typ := range slices.Sorted(maps.Keys(mergeKeys(g, p))) {
						if g[typ] != p[typ] {
							t.Errorf("%s: construct %d, %s %d", typ, g[typ], peer, p[typ])
						}
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
// app: the Go construct's (gosynth), the hand-written JavaScript app's and
// the hand-written Go L2 app's (l2synth), rotating which goes first, at 1,
// 10, 50 and 200 stages (200 has more resources than one stack may hold:
// the three apps lift CDK's check, to show how the cost grows). It
// reports seconds per synth of each (go-s/op, js-s/op, l2-s/op) and the
// construct's ratios (go/js, go/l2), and the same for the part from an
// empty stack to the written assembly (go-build-s/op, js-build-s/op,
// l2-build-s/op, build-go/js, build-go/l2), which leaves out what no
// construct can change: starting node, and for Go the jsii kernel and its
// assemblies.
//
//	go test ./cdk/bench -run '^$' -bench Synth -benchtime 5x
func BenchmarkSynth(b *testing.B) {
	h := newHarness(b)
	dir := b.TempDir()
	for _, n := range []int{1, 10, 50, 200} {
		b.Run(fmt.Sprintf("stages=%d", n), func(b *testing.B) {
			goOut, jsOut, l2Out := filepath.Join(dir, "go"), filepath.Join(dir, "js"), filepath.Join(dir, "l2")
			var goT, jsT, l2T timing
			runs := []func(){
				func() { goT.add(h.synthGo(b, n, goOut)) },
				func() { jsT.add(h.synthJS(b, n, jsOut)) },
				func() { l2T.add(h.synthL2(b, n, l2Out)) },
			}
			for i := 0; b.Loop(); i++ {
				for k := range runs {
					runs[(i+k)%len(runs)]()
				}
			}
			per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
			b.ReportMetric(per(goT.total), "go-s/op")
			b.ReportMetric(per(jsT.total), "js-s/op")
			b.ReportMetric(goT.total.Seconds()/jsT.total.Seconds(), "go/js")
			b.ReportMetric(per(goT.phase), "go-build-s/op")
			b.ReportMetric(per(jsT.phase), "js-build-s/op")
			b.ReportMetric(goT.phase.Seconds()/jsT.phase.Seconds(), "build-go/js")
			b.ReportMetric(per(l2T.total), "l2-s/op")
			b.ReportMetric(goT.total.Seconds()/l2T.total.Seconds(), "go/l2")
			b.ReportMetric(per(l2T.phase), "l2-build-s/op")
			b.ReportMetric(goT.phase.Seconds()/l2T.phase.Seconds(), "build-go/l2")
		})
	}
}
