package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/nanopipe/nanopipe/pipeline"
)

// StageMetrics adds up the metric lines a stage's invocations emitted
// during a run: the same figures CloudWatch extracts from them once
// deployed (see pipeline.Metric), plus the records the trigger's filters
// dropped, which deployed only the event source mapping sees.
type StageMetrics struct {
	Stage string `json:"stage"`
	// Invocations counts metric lines, one per invocation.
	Invocations int64 `json:"invocations"`
	Processed   int64 `json:"processed"`
	Failed      int64 `json:"failed"`
	Retried     int64 `json:"retried"`
	Filtered    int64 `json:"filtered"`
	// Records sums BatchSize; MaxBatchSize is its largest value.
	Records      int64 `json:"records"`
	MaxBatchSize int64 `json:"max_batch_size"`
	// DurationMS sums the invocations' Duration; MaxDurationMS is the
	// longest.
	DurationMS    float64 `json:"duration_ms"`
	MaxDurationMS float64 `json:"max_duration_ms"`
	// MaxOldestRecordAgeMS is the largest OldestRecordAge of stream
	// batches (how far behind the stage fell).
	MaxOldestRecordAgeMS float64 `json:"max_oldest_record_age_ms,omitempty"`
	// Custom holds what the stage's code added with pipeline.Metric.
	Custom map[string]*MetricStats `json:"custom,omitempty"`
}

// MetricStats sums the values of one metric: its unit as the stage
// declared it, how many values were emitted, their sum, smallest and
// largest.
type MetricStats struct {
	Unit  string  `json:"unit"`
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
}

func (m *MetricStats) add(v float64) {
	if m.Count == 0 || v < m.Min {
		m.Min = v
	}
	if m.Count == 0 || v > m.Max {
		m.Max = v
	}
	m.Count++
	m.Sum += v
}

// metricsCollector reads the EMF lines of in-process stages (it is their
// Env's Metrics output) and adds them up per stage.
type metricsCollector struct {
	mu      sync.Mutex
	partial []byte
	stages  map[string]*StageMetrics
	bad     int
}

func newMetricsCollector() *metricsCollector {
	return &metricsCollector{stages: map[string]*StageMetrics{}}
}

// metricsWriter is the Metrics output of the stages' Env.
func (e *Environment) metricsWriter() io.Writer {
	if e.metrics == nil {
		e.metrics = newMetricsCollector()
	}
	return e.metrics
}

func (c *metricsCollector) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.line(c.partial[:i])
		c.partial = c.partial[i+1:]
	}
	if len(c.partial) == 0 {
		c.partial = nil
	}
	return len(p), nil
}

type emfDoc struct {
	AWS struct {
		CloudWatchMetrics []struct {
			Metrics []struct {
				Name string
				Unit string
			}
		}
	} `json:"_aws"`
	Stage string `json:"stage"`
}

func (c *metricsCollector) line(l []byte) {
	var doc emfDoc
	var members map[string]json.RawMessage
	if json.Unmarshal(l, &doc) != nil || json.Unmarshal(l, &members) != nil || doc.Stage == "" {
		c.bad++
		return
	}
	s := c.stages[doc.Stage]
	if s == nil {
		s = &StageMetrics{Stage: doc.Stage}
		c.stages[doc.Stage] = s
	}
	for _, d := range doc.AWS.CloudWatchMetrics {
		for _, m := range d.Metrics {
			for _, v := range values(members[m.Name]) {
				s.add(m.Name, m.Unit, v)
			}
		}
	}
}

func values(raw json.RawMessage) []float64 {
	var one float64
	if json.Unmarshal(raw, &one) == nil {
		return []float64{one}
	}
	var many []float64
	json.Unmarshal(raw, &many)
	return many
}

func (s *StageMetrics) add(name, unit string, v float64) {
	switch name {
	case pipeline.MetricProcessed:
		s.Processed += int64(v)
	case pipeline.MetricFailed:
		s.Failed += int64(v)
	case pipeline.MetricRetried:
		s.Retried += int64(v)
	case pipeline.MetricBatchSize:
		s.Records += int64(v)
		s.MaxBatchSize = max(s.MaxBatchSize, int64(v))
	case pipeline.MetricDuration:
		s.Invocations++
		s.DurationMS += v
		s.MaxDurationMS = math.Max(s.MaxDurationMS, v)
	case pipeline.MetricOldestRecordAge:
		s.MaxOldestRecordAgeMS = math.Max(s.MaxOldestRecordAgeMS, v)
	default:
		if s.Custom == nil {
			s.Custom = map[string]*MetricStats{}
		}
		m := s.Custom[name]
		if m == nil {
			m = &MetricStats{Unit: unit}
			s.Custom[name] = m
		}
		m.add(v)
	}
}

// Metrics returns, per stage in declaration order, what the stages'
// metric lines added up to since Start, with the records the triggers'
// filters dropped. Stages run under the emulator (Options.RIE) write
// their lines to their own output, and are counted here only by Filtered.
func (e *Environment) Metrics() []StageMetrics {
	filtered := map[string]int64{}
	if e.eng != nil {
		for _, st := range e.eng.Stats() {
			filtered[st.Stage] = st.Filtered
		}
	}
	var out []StageMetrics
	var c *metricsCollector
	if e.metrics != nil {
		c = e.metrics
		c.mu.Lock()
		defer c.mu.Unlock()
	}
	for _, s := range e.app.Stages() {
		m := StageMetrics{Stage: s.Name()}
		if c != nil && c.stages[s.Name()] != nil {
			m = *c.stages[s.Name()]
			if m.Custom != nil {
				cp := make(map[string]*MetricStats, len(m.Custom))
				for k, v := range m.Custom {
					x := *v
					cp[k] = &x
				}
				m.Custom = cp
			}
		}
		m.Filtered = filtered[s.Name()]
		out = append(out, m)
	}
	return out
}

// writeMetrics prints the metrics table of the summary.
func writeMetrics(w io.Writer, ms []StageMetrics) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\n  metrics\tprocessed\tfailed\tretried\tfiltered\trecords\tmax batch\tavg ms\tmax ms\toldest age\t\n")
	var custom []string
	for _, m := range ms {
		avg := 0.0
		if m.Invocations > 0 {
			avg = m.DurationMS / float64(m.Invocations)
		}
		age := "-"
		if m.MaxOldestRecordAgeMS > 0 {
			age = fmt.Sprintf("%.0fms", m.MaxOldestRecordAgeMS)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%s\t\n", m.Stage, m.Processed, m.Failed, m.Retried, m.Filtered, m.Records, m.MaxBatchSize, avg, m.MaxDurationMS, age)
		names := make([]string, 0, len(m.Custom))
		for n := range m.Custom {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			x := m.Custom[n]
			custom = append(custom, fmt.Sprintf("  %s %s: %d values, sum %g, min %g, max %g %s", m.Stage, n, x.Count, x.Sum, x.Min, x.Max, strings.ToLower(x.Unit)))
		}
	}
	tw.Flush()
	for _, l := range custom {
		fmt.Fprintln(w, l)
	}
}
