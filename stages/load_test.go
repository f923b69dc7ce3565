package stages_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/stages"
	"github.com/nanopipe/nanopipe/triggers"
)

// Person is the row type of the load tests.
type Person struct {
	ID     string   `dynamodbav:"id" json:"id"`
	Name   string   `dynamodbav:"name" json:"name"`
	Age    int      `dynamodbav:"age" json:"age"`
	Score  *float64 `dynamodbav:"score,omitempty" json:"score,omitempty"`
	Source string   `dynamodbav:"source" json:"-" csv:"-"`
}

func (p Person) Validate() error {
	if p.Age < 0 || p.Age > 150 {
		return fmt.Errorf("age %d is out of range", p.Age)
	}
	return nil
}

func loadApp(t *testing.T, opts ...stages.LoadOption) (*pipeline.App, *pipeline.Bucket, *pipeline.Table) {
	app := pipeline.New("load-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	in := app.Bucket("load-in")
	people := app.Table("people", pipeline.PartitionKey("id", pipeline.String))
	opts = append(opts, stages.ReportTo(in, "reports/"), stages.Check(func(p *Person, at stages.Row) error {
		p.Source = at.Source
		return nil
	}))
	stages.Load[Person](app, "load", in.Created(triggers.Prefix("incoming/")), people, opts...)
	return app, in, people
}

func report(t *testing.T, e *env, key string) stages.Report {
	t.Helper()
	b := e.get("load-in", "reports/"+key+stages.ReportSuffix)
	if b == nil {
		t.Fatalf("no report %s", key)
	}
	var r stages.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLoadCSV(t *testing.T) {
	app, _, _ := loadApp(t)
	e := start(t, app)
	var b strings.Builder
	b.WriteString("\uFEFFid,name,age,score,extra\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "p%04d,\"Person, %d\",%d,%d.5,x\n", i, i, i%90, i)
	}
	b.WriteString("p0001,Renamed,40,,x\n")          // line 1002: a later row wins
	b.WriteString("bad1,Bad Age,old,1,x\n")         // line 1003
	b.WriteString(",No Id,3,1,x\n")                 // line 1004
	b.WriteString("short,row\n")                    // line 1005
	b.WriteString("neg,\"multi\nline\",-4,1,x\n")   // lines 1006-1007
	b.WriteString("p9999,\"Last\nof all\",33,,x\n") // lines 1008-1009
	e.put("load-in", "incoming/people.csv", []byte(b.String()))
	e.idle()
	if f := e.failures(); len(f) > 0 {
		t.Fatalf("failed deliveries: %v", f)
	}
	if n := e.count("people"); n != 1001 {
		t.Errorf("people has %d items, want 1001", n)
	}
	items := map[string]map[string]string{}
	for _, it := range e.scan("people") {
		m := map[string]string{}
		for k, v := range it {
			m[k] = s(v)
		}
		items[m["id"]] = m
	}
	if got := items["p0001"]["name"]; got != "Renamed" {
		t.Errorf("p0001 is named %q: the later row of a key should win", got)
	}
	if got := items["p0002"]; got["name"] != "Person, 2" || got["age"] != "2" || got["score"] != "2.5" || got["source"] != "incoming/people.csv" {
		t.Errorf("p0002 = %v", got)
	}
	if _, ok := items["p0001"]["score"]; ok {
		t.Errorf("an empty cell should leave an omitempty field out: %v", items["p0001"])
	}
	if got := items["p9999"]["name"]; got != "Last\nof all" {
		t.Errorf("quoted newline: %q", got)
	}
	r := report(t, e, "people.csv")
	if !r.Complete || r.Rows != 1006 || r.Loaded != 1002 || r.Invalid != 4 {
		t.Errorf("report: complete %v rows %d loaded %d invalid %d, want true 1006 1002 4", r.Complete, r.Rows, r.Loaded, r.Invalid)
	}
	want := []struct {
		line int
		msg  string
	}{
		{1003, `column "age": "old" is not an integer`},
		{1004, `key attribute "id" of table people is empty`},
		{1005, "2 fields, but the header has 5 columns"},
		{1006, "age -4 is out of range"},
	}
	if len(r.Errors) != len(want) {
		t.Fatalf("report errors: %+v", r.Errors)
	}
	for i, w := range want {
		if r.Errors[i].Line != w.line || !strings.Contains(r.Errors[i].Error, w.msg) {
			t.Errorf("error %d = line %d %q, want line %d containing %q", i, r.Errors[i].Line, r.Errors[i].Error, w.line, w.msg)
		}
	}
	if len(r.IgnoredColumns) != 1 || r.IgnoredColumns[0] != "extra" {
		t.Errorf("ignored columns %v, want [extra]", r.IgnoredColumns)
	}

	// A corrected upload of the same key loads cleanly and removes the
	// stale report.
	e.put("load-in", "incoming/people.csv", []byte("id,name,age\nfixed,Fixed,30\n"))
	e.idle()
	if e.get("load-in", "reports/people.csv"+stages.ReportSuffix) != nil {
		t.Error("the stale report was kept after a clean load")
	}
}

func TestLoadJSONLinesGzip(t *testing.T) {
	app, _, _ := loadApp(t, stages.MaxErrors(1))
	e := start(t, app)
	var raw bytes.Buffer
	for i := range 300 {
		fmt.Fprintf(&raw, `{"id":"j%03d","name":"J %d","age":%d}`+"\n", i, i, i%80)
		if i == 10 {
			raw.WriteString("\n   \n") // blank lines are skipped
		}
	}
	raw.WriteString(`{"id":"broken",` + "\n")
	raw.WriteString(`{"id":"j1","age":"x"}` + "\n")
	raw.WriteString(`{"id":"last","age":1}`) // no final newline
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	e.put("load-in", "incoming/people.jsonl.gz", gz.Bytes())
	e.idle()
	if f := e.failures(); len(f) > 0 {
		t.Fatalf("failed deliveries: %v", f)
	}
	if n := e.count("people"); n != 301 {
		t.Errorf("people has %d items, want 301", n)
	}
	r := report(t, e, "people.jsonl.gz")
	if r.Invalid != 2 || len(r.Errors) != 1 || r.Unlisted != 1 || r.Errors[0].Line != 303 || !strings.Contains(r.Errors[0].Error, "invalid JSON") {
		t.Errorf("report: invalid %d unlisted %d errors %+v", r.Invalid, r.Unlisted, r.Errors)
	}
}

func TestLoadFileErrors(t *testing.T) {
	app := pipeline.New("load-nocheck")
	in := app.Bucket("load-in")
	people := app.Table("people", pipeline.PartitionKey("id", pipeline.String))
	stages.Load[Person](app, "load", in.Created(triggers.Prefix("incoming/")), people, stages.ReportTo(in, "reports/"))
	e := start(t, app)
	e.put("load-in", "incoming/nokey.csv", []byte("name,age\nA,1\n"))
	e.put("load-in", "incoming/data.xml", []byte("<people/>"))
	e.put("load-in", "incoming/empty.csv", nil)
	e.idle()
	if f := e.failures(); len(f) > 0 {
		t.Fatalf("a file-level problem must not fail the event (retrying cannot help): %v", f)
	}
	if r := report(t, e, "nokey.csv"); !strings.Contains(r.Error, `no column for key attribute "id"`) || !r.Complete {
		t.Errorf("header without key: %+v", r)
	}
	if r := report(t, e, "data.xml"); !strings.Contains(r.Error, "cannot tell the format") {
		t.Errorf("unknown format: %+v", r)
	}
	if e.get("load-in", "reports/empty.csv"+stages.ReportSuffix) != nil {
		t.Error("an empty file has nothing to report")
	}
}

// TestLoadSkipsStaleEvents: an event about a version that was replaced or
// removed since is skipped, and a redelivered event of a load whose
// report says complete is not loaded again.
func TestLoadSkipsStaleEvents(t *testing.T) {
	app, in, people := loadApp(t)
	e := start(t, app)
	h := pipelinetest.New(t, app, e.Endpoint())
	stage := app.StageNamed("load")

	old := []byte("id,name,age\nold,Old,1\n")
	res := h.Invoke(stage, pipelinetest.S3Event(pipelinetest.CreatedObject(in, "incoming/gone.csv", old)))
	if !res.OK() {
		t.Fatalf("an event for a removed object should be skipped: %v", res.Err)
	}
	e.put("load-in", "incoming/now.csv", []byte("id,name,age\nnew,New,2\n"))
	e.idle()
	res = h.Invoke(stage, pipelinetest.S3Event(pipelinetest.CreatedObject(in, "incoming/now.csv", old)))
	if !res.OK() {
		t.Fatalf("an event for a replaced version should be skipped: %v", res.Err)
	}
	for _, it := range e.scan(people.Name()) {
		if s(it["id"]) == "old" {
			t.Errorf("the stale version was loaded")
		}
	}
}

func TestLoadDeclarationErrors(t *testing.T) {
	type noKey struct {
		Name string `dynamodbav:"name"`
	}
	cases := []struct {
		name string
		decl func(app *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table)
		want string
	}{
		{"removed trigger", func(app *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			stages.Load[Person](app, "l", b.Removed(), tb)
		}, "Load needs an ObjectCreated trigger"},
		{"row type without key", func(app *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			stages.Load[noKey](app, "l", b.Created(), tb)
		}, `has no field for key attribute "id"`},
		{"row type not a struct", func(app *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			stages.Load[[]string](app, "l", b.Created(), tb)
		}, "neither a struct nor map"},
		{"writers", func(app *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			stages.Load[Person](app, "l", b.Created(), tb, stages.Writers(0))
		}, "Writers(0) out of range"},
		{"check of another type", func(app *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			stages.Load[Person](app, "l", b.Created(), tb, stages.Check(func(*noKey, stages.Row) error { return nil }))
		}, "Check is for rows of type"},
		{"table of another app", func(app *pipeline.App, b *pipeline.Bucket, tb *pipeline.Table) {
			other := pipeline.New("other")
			stages.Load[Person](app, "l", b.Created(), other.Table("x-table", pipeline.PartitionKey("id", pipeline.String)))
		}, "is not a table of app"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := pipeline.New("decl")
			b := app.Bucket("decl-in")
			tb := app.Table("people", pipeline.PartitionKey("id", pipeline.String))
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no declaration error")
				}
				msg := fmt.Sprint(r)
				if !strings.Contains(msg, c.want) || !strings.Contains(msg, `stage "l"`) {
					t.Errorf("error %q does not name the stage and say %q", msg, c.want)
				}
			}()
			c.decl(app, b, tb)
		})
	}
}

// TestLoadSelfTriggerIsALoop: reports written next to uploads of a
// trigger without a suffix would trigger the load again; the declaration
// says so.
func TestLoadSelfTriggerIsALoop(t *testing.T) {
	app := pipeline.New("loop", pipeline.CollectErrors())
	in := app.Bucket("loop-in")
	tb := app.Table("people", pipeline.PartitionKey("id", pipeline.String))
	stages.Load[Person](app, "load", in.Created(triggers.Prefix("incoming/")), tb)
	err := app.Validate()
	if err == nil || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("Validate = %v, want a loop error", err)
	}
	ok := pipeline.New("noloop")
	in2 := ok.Bucket("loop-in")
	tb2 := ok.Table("people", pipeline.PartitionKey("id", pipeline.String))
	stages.Load[Person](ok, "load", in2.Created(triggers.Prefix("incoming/"), triggers.Suffix(".csv")), tb2)
	stages.Load[Person](ok, "load-elsewhere", in2.Created(triggers.Prefix("drop/")), tb2, stages.ReportTo(in2, "reports/"))
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}
