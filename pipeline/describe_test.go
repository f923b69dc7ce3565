package pipeline_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nanopipe/nanopipe/internal/contract"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

func describeApp(batch int, extraWrite bool, indexes ...func(*pipeline.Table)) *pipeline.App {
	a := pipeline.New("desc")
	b := a.Bucket("desc-files")
	tb := a.Table("items", pipeline.PartitionKey("id", pipeline.String), pipeline.SortKey("size", pipeline.Number))
	for _, ix := range indexes {
		ix(tb)
	}
	st := pipeline.OnObject(a, "load", b.Created(triggers.Prefix("in/")), onObj).Reads(b.Keys("in/", "")).Writes(tb)
	if extraWrite {
		st.Writes(b.Keys("out/", ""))
	}
	pipeline.OnChange(a, "index", tb.Changes(triggers.Insert, triggers.BatchSize(batch), triggers.Where(triggers.NewImage("status").Equals("new"))), onItem)
	return a
}

func TestDescribe(t *testing.T) {
	d := describeApp(10, false).Describe()
	if !bytes.Equal(d, describeApp(10, false).Describe()) {
		t.Fatal("the same declaration described differently")
	}
	for _, other := range []*pipeline.App{describeApp(20, false), describeApp(10, true)} {
		if bytes.Equal(d, other.Describe()) {
			t.Errorf("a changed declaration describes the same:\n%s", other.Describe())
		}
	}
	// Adding an index, giving it a sort key, or adding a local one changes
	// the declaration (dev --watch restarts on it).
	byStatus := func(t *pipeline.Table) { t.GlobalIndex("by-status", pipeline.PartitionKey("status", pipeline.String)) }
	byStatusSorted := func(t *pipeline.Table) {
		t.GlobalIndex("by-status", pipeline.PartitionKey("status", pipeline.String)).SortKey("size", pipeline.Number)
	}
	byName := func(t *pipeline.Table) { t.LocalIndex("by-name", "name", pipeline.String) }
	if !bytes.Equal(describeApp(10, false, byStatus).Describe(), describeApp(10, false, byStatus).Describe()) {
		t.Fatal("the same declaration with an index described differently")
	}
	variants := [][]byte{d, describeApp(10, false, byStatus).Describe(), describeApp(10, false, byStatusSorted).Describe(),
		describeApp(10, false, byStatus, byName).Describe()}
	for i := range variants {
		for j := range i {
			if bytes.Equal(variants[i], variants[j]) {
				t.Errorf("index declarations %d and %d describe the same:\n%s", j, i, variants[i])
			}
		}
	}
	if !strings.Contains(string(variants[3]), `"name": "by-name"`) || !strings.Contains(string(variants[3]), `"global": true`) {
		t.Errorf("description without its indexes:\n%s", variants[3])
	}
	var v struct {
		Stages []struct {
			Name   string
			Reads  []string
			Stream *struct {
				Patterns  []string
				BatchSize int
			}
		}
	}
	if err := json.Unmarshal(d, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Stages) != 2 || v.Stages[0].Reads[0] != `bucket desc-files prefix "in/"` || v.Stages[1].Stream.BatchSize != 10 ||
		!strings.Contains(v.Stages[1].Stream.Patterns[0], `"status":{"S":["new"]}`) {
		t.Errorf("description:\n%s", d)
	}
}

// The Lambda binary prints its declaration when asked, as dev --watch asks
// a rebuilt binary.
func TestMainDescribes(t *testing.T) {
	bin := buildRTApp(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), contract.Describe+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"app": "rtapp"`) || !strings.Contains(string(out), `"name": "things"`) {
		t.Errorf("description:\n%s", out)
	}
}
