package pipeline

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/emf")

// TestEMFGolden renders metric sets at a fixed time and compares the
// lines with the golden files in testdata/emf.
func TestEMFGolden(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	start := now.Add(-12500 * time.Microsecond)
	cases := []struct {
		name string
		set  func() *metricSet
		ns   string
		req  string
	}{
		{"s3-ok", func() *metricSet {
			m := &metricSet{start: start}
			m.objects(1, 0)
			m.add("ThumbnailBytes", 2048, UnitBytes)
			return m
		}, DefaultMetricsNamespace, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"},
		{"s3-failed", func() *metricSet {
			m := &metricSet{start: start}
			m.objects(1, 1)
			return m
		}, "Photos", ""},
		{"stream-partial", func() *metricSet {
			m := &metricSet{start: start}
			m.records(5, 1, 3, now.Add(-90*time.Second))
			m.add("Rows", 3, UnitCount)
			m.add("Rows", 4, UnitCount)
			m.add("Rows", 5.5, UnitCount)
			return m
		}, DefaultMetricsNamespace, "req-1"},
		{"unreadable", func() *metricSet {
			m := &metricSet{start: start}
			m.records(0, 1, 0, time.Time{})
			return m
		}, DefaultMetricsNamespace, ""},
		{"quoting", func() *metricSet {
			m := &metricSet{start: start}
			m.add("say \"hi\"\\\n", 1, UnitNone)
			return m
		}, "a b/c#d:e", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.set().appendEMF(nil, c.ns, "photos", "thumbnail", c.req, now)
			for _, line := range bytes.Split(bytes.TrimSuffix(got, []byte("\n")), []byte("\n")) {
				if err := checkEMF(line); err != nil {
					t.Errorf("not EMF: %v\n%s", err, line)
				}
			}
			path := filepath.Join("testdata", "emf", c.name+".json")
			if *update {
				os.WriteFile(path, got, 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestEMFGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("EMF lines differ from %s:\ngot  %s\nwant %s", path, got, want)
			}
		})
	}
}

// TestEMFChunks: a set beyond EMF's limits (100 metrics per directive,
// 100 values per metric) becomes several valid lines, no value lost.
func TestEMFChunks(t *testing.T) {
	now := time.Now()
	m := &metricSet{start: now}
	m.objects(1, 0)
	for i := range 150 {
		m.add(fmt.Sprintf("m%03d", i), float64(i), UnitCount)
	}
	for i := range 250 {
		m.add("many", float64(i), UnitCount)
	}
	out := m.appendEMF(nil, "ns", "a", "s", "", now)
	lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	values := map[string]int{}
	for _, l := range lines {
		if err := checkEMF(l); err != nil {
			t.Fatalf("%v\n%s", err, l)
		}
		var doc map[string]any
		json.Unmarshal(l, &doc)
		for _, d := range doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any) {
			for _, md := range d.(map[string]any)["Metrics"].([]any) {
				name := md.(map[string]any)["Name"].(string)
				switch v := doc[name].(type) {
				case []any:
					values[name] += len(v)
				default:
					values[name]++
				}
			}
		}
	}
	if values["many"] != 250 || values["m149"] != 1 || values[MetricProcessed] != 1 || len(values) != 150+1+5 {
		t.Errorf("%d lines carry %d metrics; many=%d", len(lines), len(values), values["many"])
	}
}

// checkEMF checks a line against the Embedded Metric Format
// specification: a JSON object whose _aws member holds a millisecond
// Timestamp and CloudWatchMetrics directives (Namespace, Dimensions,
// Metrics, nothing else); every dimension a string member of the root,
// every metric a number or an array of at most 100 numbers; at most 100
// metrics and 30 dimensions per set; units CloudWatch knows.
func checkEMF(line []byte) error {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(line, &root); err != nil {
		return err
	}
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(root["_aws"], &meta); err != nil {
		return fmt.Errorf("_aws: %v", err)
	}
	for k := range meta {
		if k != "Timestamp" && k != "CloudWatchMetrics" {
			return fmt.Errorf("_aws has member %q", k)
		}
	}
	var ts int64
	if err := json.Unmarshal(meta["Timestamp"], &ts); err != nil || ts <= 0 {
		return fmt.Errorf("Timestamp %s is not epoch milliseconds", meta["Timestamp"])
	}
	var dirs []map[string]json.RawMessage
	if err := json.Unmarshal(meta["CloudWatchMetrics"], &dirs); err != nil || len(dirs) == 0 {
		return fmt.Errorf("CloudWatchMetrics: %v", err)
	}
	for _, d := range dirs {
		for k := range d {
			if k != "Namespace" && k != "Dimensions" && k != "Metrics" {
				return fmt.Errorf("directive has member %q", k)
			}
		}
		var ns string
		if err := json.Unmarshal(d["Namespace"], &ns); err != nil || !namespaceRE.MatchString(ns) {
			return fmt.Errorf("Namespace %s", d["Namespace"])
		}
		var dims [][]string
		if err := json.Unmarshal(d["Dimensions"], &dims); err != nil {
			return fmt.Errorf("Dimensions: %v", err)
		}
		for _, set := range dims {
			if len(set) == 0 || len(set) > 30 {
				return fmt.Errorf("dimension set of %d", len(set))
			}
			for _, name := range set {
				var v string
				if err := json.Unmarshal(root[name], &v); err != nil || v == "" {
					return fmt.Errorf("dimension %q is not a string member", name)
				}
			}
		}
		var defs []map[string]json.RawMessage
		if err := json.Unmarshal(d["Metrics"], &defs); err != nil || len(defs) == 0 || len(defs) > 100 {
			return fmt.Errorf("Metrics: %d definitions, %v", len(defs), err)
		}
		for _, def := range defs {
			var name string
			var unit Unit
			json.Unmarshal(def["Name"], &name)
			if u, ok := def["Unit"]; ok {
				json.Unmarshal(u, &unit)
				if !validUnits[unit] {
					return fmt.Errorf("metric %q unit %q", name, unit)
				}
			}
			for k := range def {
				if k != "Name" && k != "Unit" && k != "StorageResolution" {
					return fmt.Errorf("metric definition has member %q", k)
				}
			}
			var one float64
			if json.Unmarshal(root[name], &one) == nil {
				continue
			}
			var many []float64
			if err := json.Unmarshal(root[name], &many); err != nil || len(many) == 0 || len(many) > 100 {
				return fmt.Errorf("metric %q value %s", name, root[name])
			}
		}
	}
	return nil
}

// BenchmarkEMFLine measures what metrics add to a stream invocation:
// the set, its counts and the rendering of its line.
func BenchmarkEMFLine(b *testing.B) {
	env := &Env{Metrics: io.Discard}
	oldest := time.Now().Add(-time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		m := startMetrics(env)
		m.records(100, 0, 0, oldest)
		bp := emfBufs.Get().(*[]byte)
		line := m.appendEMF((*bp)[:0], DefaultMetricsNamespace, "bench", "noop", "", time.Now())
		env.Metrics.Write(line)
		*bp = line
		emfBufs.Put(bp)
	}
}
