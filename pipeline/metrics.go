package pipeline

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nanopipe/nanopipe/triggers"
)

// # Metrics
//
// Every invocation of a stage ends with one log line in CloudWatch's
// Embedded Metric Format (EMF): a JSON object whose "_aws" member tells
// CloudWatch Logs which of its members are metrics. Lambda sends the
// function's standard output to CloudWatch Logs, which extracts the
// metrics from such lines on its own: no API call is made, and nothing
// waits for one.
//
// The metrics of a line, with the dimensions app and stage:
//
//	Processed        records or objects the stage processed (Count)
//	Failed           records or objects the stage failed, or that did not decode (Count)
//	Retried          records or objects handed back to the event source as failed:
//	                 Lambda delivers them again, or, with no retries left, sends them
//	                 to the stage's on-failure destination (Count)
//	BatchSize        records or objects in the invocation (Count)
//	Duration         time the runtime spent on the invocation (Milliseconds)
//	OldestRecordAge  stream stages: age of the oldest record of the batch (Milliseconds)
//
// plus what stage code adds with Metric. Records a stream trigger's
// filters drop never reach the function: deployed, the event source
// mapping counts them (FilteredOutEventCount); locally the local
// environment does.

// Names of the metrics the runtime emits.
const (
	MetricProcessed       = "Processed"
	MetricFailed          = "Failed"
	MetricRetried         = "Retried"
	MetricBatchSize       = "BatchSize"
	MetricDuration        = "Duration"
	MetricOldestRecordAge = "OldestRecordAge"
)

// DefaultMetricsNamespace is the CloudWatch namespace of the metrics
// unless the app sets one with MetricsNamespace.
const DefaultMetricsNamespace = "nanopipe"

// envMetrics, set to "off" in a function's environment, stops the
// runtime's metric lines.
const envMetrics = "NANOPIPE_METRICS"

// Unit is the unit of a metric: one of CloudWatch's standard units.
type Unit string

// CloudWatch's standard units.
const (
	UnitNone               Unit = "None"
	UnitCount              Unit = "Count"
	UnitPercent            Unit = "Percent"
	UnitSeconds            Unit = "Seconds"
	UnitMilliseconds       Unit = "Milliseconds"
	UnitMicroseconds       Unit = "Microseconds"
	UnitBytes              Unit = "Bytes"
	UnitKilobytes          Unit = "Kilobytes"
	UnitMegabytes          Unit = "Megabytes"
	UnitGigabytes          Unit = "Gigabytes"
	UnitTerabytes          Unit = "Terabytes"
	UnitBits               Unit = "Bits"
	UnitKilobits           Unit = "Kilobits"
	UnitMegabits           Unit = "Megabits"
	UnitGigabits           Unit = "Gigabits"
	UnitTerabits           Unit = "Terabits"
	UnitCountPerSecond     Unit = "Count/Second"
	UnitBytesPerSecond     Unit = "Bytes/Second"
	UnitKilobytesPerSecond Unit = "Kilobytes/Second"
	UnitMegabytesPerSecond Unit = "Megabytes/Second"
	UnitGigabytesPerSecond Unit = "Gigabytes/Second"
	UnitTerabytesPerSecond Unit = "Terabytes/Second"
	UnitBitsPerSecond      Unit = "Bits/Second"
	UnitKilobitsPerSecond  Unit = "Kilobits/Second"
	UnitMegabitsPerSecond  Unit = "Megabits/Second"
	UnitGigabitsPerSecond  Unit = "Gigabits/Second"
	UnitTerabitsPerSecond  Unit = "Terabits/Second"
)

var validUnits = map[Unit]bool{
	UnitNone: true, UnitCount: true, UnitPercent: true, UnitSeconds: true, UnitMilliseconds: true, UnitMicroseconds: true,
	UnitBytes: true, UnitKilobytes: true, UnitMegabytes: true, UnitGigabytes: true, UnitTerabytes: true,
	UnitBits: true, UnitKilobits: true, UnitMegabits: true, UnitGigabits: true, UnitTerabits: true,
	UnitCountPerSecond: true, UnitBytesPerSecond: true, UnitKilobytesPerSecond: true, UnitMegabytesPerSecond: true,
	UnitGigabytesPerSecond: true, UnitTerabytesPerSecond: true, UnitBitsPerSecond: true, UnitKilobitsPerSecond: true,
	UnitMegabitsPerSecond: true, UnitGigabitsPerSecond: true, UnitTerabitsPerSecond: true,
}

// CloudWatch's limits: a namespace is 1-255 of these characters and does
// not start with "AWS/"; an EMF directive holds at most 100 metrics and a
// metric member at most 100 values.
var namespaceRE = regexp.MustCompile(`^[0-9A-Za-z.\-_/#: ]{1,255}$`)

const (
	emfMaxMetrics = 100
	emfMaxValues  = 100
	maxMetricName = 255
)

// MetricsNamespace sets the CloudWatch namespace of the app's metrics
// (default DefaultMetricsNamespace):
//
//	var App = pipeline.New("photos", pipeline.MetricsNamespace("Photos"))
func MetricsNamespace(ns string) Option {
	return func(a *App) {
		if !namespaceRE.MatchString(ns) || strings.HasPrefix(ns, "AWS/") {
			a.fail(fmt.Errorf("pipeline: app %q: MetricsNamespace(%q): use 1-255 letters, digits, spaces or . - _ / # :, not starting with AWS/ (reserved for AWS)", a.name, ns))
			return
		}
		a.metricsNamespace = ns
	}
}

// MetricsNamespace returns the app's CloudWatch namespace.
func (a *App) MetricsNamespace() string {
	if a.metricsNamespace == "" {
		return DefaultMetricsNamespace
	}
	return a.metricsNamespace
}

// Metric adds a value of the named metric to the running invocation's
// metric line, with the same dimensions (app and stage) as the runtime's
// own metrics; a metric given several values in one invocation carries
// them all (CloudWatch's statistics see each value). It makes no call
// and never fails the stage: a bad name, unit or value is logged and
// dropped. Outside a running stage, or when the Env has no Metrics
// output, it does nothing.
//
//	pipeline.Metric(ctx, "ThumbnailBytes", float64(len(png)), pipeline.UnitBytes)
func Metric(ctx context.Context, name string, value float64, unit Unit) {
	inv := invocationFrom(ctx)
	if inv == nil || inv.metrics == nil {
		return
	}
	if err := checkMetric(name, value, unit); err != nil {
		Logger(ctx).Error("metric dropped", "metric", name, "error", err.Error())
		return
	}
	inv.metrics.add(name, value, unit)
}

func checkMetric(name string, value float64, unit Unit) error {
	switch {
	case name == "" || len(name) > maxMetricName:
		return fmt.Errorf("metric name %q: use 1-%d characters", name, maxMetricName)
	case isRuntimeMetric(name) || name == "app" || name == "stage" || name == "request_id" || name == "_aws":
		return fmt.Errorf("metric name %q is the runtime's own; choose another", name)
	case !validUnits[unit]:
		return fmt.Errorf("unit %q is not a CloudWatch unit; use one of the pipeline.Unit constants", unit)
	case math.IsNaN(value) || math.IsInf(value, 0):
		return fmt.Errorf("value %v is not a finite number", value)
	}
	return nil
}

func isRuntimeMetric(name string) bool {
	switch name {
	case MetricProcessed, MetricFailed, MetricRetried, MetricBatchSize, MetricDuration, MetricOldestRecordAge:
		return true
	}
	return false
}

// metricsOutput is where a function's metric lines go: standard output,
// which Lambda sends to CloudWatch Logs, unless NANOPIPE_METRICS=off.
func metricsOutput(getenv func(string) string) io.Writer {
	if strings.EqualFold(getenv(envMetrics), "off") {
		return nil
	}
	return os.Stdout
}

// metricSet is what one invocation measures. Its methods are safe on a
// nil set (metrics off).
type metricSet struct {
	start     time.Time
	counted   bool
	stream    bool
	n         int
	processed int
	failed    int
	retried   int
	oldest    time.Time

	mu     sync.Mutex
	custom []customMetric
}

type customMetric struct {
	name   string
	unit   Unit
	values []float64
}

func startMetrics(env *Env) *metricSet {
	if env.Metrics == nil {
		return nil
	}
	return &metricSet{start: time.Now()}
}

// objects records the outcome of an S3 invocation: n objects, failed of
// them failed (and handed back to Lambda's retries).
func (m *metricSet) objects(n, failed int) {
	if m == nil {
		return
	}
	m.counted = true
	m.n, m.processed, m.failed, m.retried = n, n-failed, failed, failed
}

// records records the outcome of a stream invocation: n records, failed
// of them failed, retried reported in batchItemFailures (the failed ones
// and those after them), the oldest record's creation time.
func (m *metricSet) records(n, failed, retried int, oldest time.Time) {
	if m == nil {
		return
	}
	m.counted, m.stream = true, true
	m.n, m.processed, m.failed, m.retried, m.oldest = n, n-retried, failed, retried, oldest
}

func oldestChange[T any](cs []triggers.Change[T]) time.Time {
	var t time.Time
	for i := range cs {
		if c := cs[i].CreatedAt; !c.IsZero() && (t.IsZero() || c.Before(t)) {
			t = c
		}
	}
	return t
}

func failedOf(retried int) int { return min(retried, 1) }

func failedAll(n int, err error) int {
	if err != nil {
		return n
	}
	return 0
}

func oldestRecord(rs []events.DynamoDBEventRecord) time.Time {
	var t time.Time
	for i := range rs {
		if c := rs[i].Change.ApproximateCreationDateTime.Time; !c.IsZero() && (t.IsZero() || c.Before(t)) {
			t = c
		}
	}
	return t
}

func (m *metricSet) add(name string, value float64, unit Unit) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.custom {
		if m.custom[i].name == name {
			m.custom[i].values = append(m.custom[i].values, value)
			return
		}
	}
	m.custom = append(m.custom, customMetric{name: name, unit: unit, values: []float64{value}})
}

var emfBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// emit writes the invocation's metric lines. A write error is logged: a
// lost metric line must not fail the records it describes.
func (inv *invocation) emitMetrics() {
	m := inv.metrics
	if m == nil {
		return
	}
	now := time.Now()
	bp := emfBufs.Get().(*[]byte)
	lines := m.appendEMF((*bp)[:0], inv.stage.app.MetricsNamespace(), inv.stage.app.name, inv.stage.name, inv.requestID, now)
	if _, err := inv.env.Metrics.Write(lines); err != nil {
		inv.log.Error("metrics not written", "error", err.Error())
	}
	*bp = lines
	emfBufs.Put(bp)
}

type emfMetric struct {
	name   string
	unit   Unit
	values []float64
}

// appendEMF renders the set as EMF lines: the runtime's metrics and, in
// chunks within EMF's limits, the stage's own.
func (m *metricSet) appendEMF(b []byte, ns, app, stage, requestID string, now time.Time) []byte {
	var fixed [6]emfMetric
	ms := fixed[:0]
	var vals [6]float64
	if m.counted {
		vals[0], vals[1], vals[2], vals[3] = float64(m.processed), float64(m.failed), float64(m.retried), float64(m.n)
		ms = append(ms,
			emfMetric{MetricProcessed, UnitCount, vals[0:1]},
			emfMetric{MetricFailed, UnitCount, vals[1:2]},
			emfMetric{MetricRetried, UnitCount, vals[2:3]},
			emfMetric{MetricBatchSize, UnitCount, vals[3:4]})
	}
	vals[4] = float64(now.Sub(m.start).Microseconds()) / 1000
	ms = append(ms, emfMetric{MetricDuration, UnitMilliseconds, vals[4:5]})
	if m.stream && !m.oldest.IsZero() {
		vals[5] = float64(max(now.Sub(m.oldest), 0).Milliseconds())
		ms = append(ms, emfMetric{MetricOldestRecordAge, UnitMilliseconds, vals[5:6]})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.custom) == 0 {
		return appendEMFLine(b, ns, app, stage, requestID, now, ms)
	}
	for _, c := range m.custom {
		for v := c.values; len(v) > 0; {
			k := min(len(v), emfMaxValues)
			ms = append(ms, emfMetric{c.name, c.unit, v[:k]})
			v = v[k:]
		}
	}
	// One line per chunk: at most emfMaxMetrics metrics, each name once.
	for len(ms) > 0 {
		var chunk []emfMetric
		var rest []emfMetric
		seen := map[string]bool{}
		for _, x := range ms {
			if len(chunk) < emfMaxMetrics && !seen[x.name] {
				seen[x.name] = true
				chunk = append(chunk, x)
			} else {
				rest = append(rest, x)
			}
		}
		b = appendEMFLine(b, ns, app, stage, requestID, now, chunk)
		ms = rest
	}
	return b
}

func appendEMFLine(b []byte, ns, app, stage, requestID string, now time.Time, ms []emfMetric) []byte {
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":`...)
	b = appendJSONString(b, ns)
	b = append(b, `,"Dimensions":[["app","stage"]],"Metrics":[`...)
	for i, x := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Name":`...)
		b = appendJSONString(b, x.name)
		b = append(b, `,"Unit":"`...)
		b = append(b, x.unit...)
		b = append(b, `"}`...)
	}
	b = append(b, `]}]},"app":`...)
	b = appendJSONString(b, app)
	b = append(b, `,"stage":`...)
	b = appendJSONString(b, stage)
	if requestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendJSONString(b, requestID)
	}
	for _, x := range ms {
		b = append(b, ',')
		b = appendJSONString(b, x.name)
		b = append(b, ':')
		if len(x.values) == 1 {
			b = strconv.AppendFloat(b, x.values[0], 'f', -1, 64)
			continue
		}
		b = append(b, '[')
		for i, v := range x.values {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string. strconv.Quote is not JSON
// (it writes \x escapes), so anything beyond plain printable ASCII goes
// through the JSON rules here.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&0xf])
		default:
			b = append(b, string(r)...)
		}
	}
	return append(b, '"')
}
