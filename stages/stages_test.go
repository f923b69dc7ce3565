package stages_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/nanopipe/nanopipe/internal/plumbing"
	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/pipelinetest"
	"github.com/nanopipe/nanopipe/stages"
	"github.com/nanopipe/nanopipe/triggers"
)

func TestCopyAndMove(t *testing.T) {
	app := pipeline.New("copymove")
	in := app.Bucket("cm-in")
	out := app.Bucket("cm-out")
	cp := stages.Copy(app, "copy", in.Created(triggers.Prefix("incoming/")), out, "copies/")
	mv := stages.Move(app, "move", in.Created(triggers.Prefix("done/")), in, "archive/",
		stages.Rename(func(key string) string { return strings.ToUpper(strings.TrimPrefix(key, "done/")) }))
	e := start(t, app)
	e.put("cm-in", "incoming/a b+c.txt", []byte("copied"))
	e.put("cm-in", "done/x/y.txt", []byte("moved"))
	e.idle()
	if f := e.failures(); len(f) > 0 {
		t.Fatal(f)
	}
	if got := string(e.get("cm-out", "copies/a b+c.txt")); got != "copied" {
		t.Errorf("copy = %q", got)
	}
	if got := string(e.get("cm-in", "archive/X/Y.TXT")); got != "moved" {
		t.Errorf("move = %q", got)
	}
	if want := []string{"archive/X/Y.TXT", "incoming/a b+c.txt"}; !reflect.DeepEqual(e.keys("cm-in"), want) {
		t.Errorf("cm-in holds %v, want %v", e.keys("cm-in"), want)
	}

	// Redelivery: the move finds its source gone and succeeds; the copy
	// copies the same version again.
	h := pipelinetest.New(t, app, e.Endpoint())
	if res := h.Invoke(mv, pipelinetest.S3Event(pipelinetest.CreatedObject(in, "done/x/y.txt", []byte("moved")))); !res.OK() {
		t.Errorf("redelivered move: %v", res.Err)
	}
	if res := h.Invoke(cp, pipelinetest.S3Event(pipelinetest.CreatedObject(in, "incoming/a b+c.txt", []byte("copied")))); !res.OK() {
		t.Errorf("redelivered copy: %v", res.Err)
	}
	// A stale event (the object was replaced since) copies nothing.
	e.put("cm-in", "incoming/a b+c.txt", []byte("newer"))
	e.idle()
	if res := h.Invoke(cp, pipelinetest.S3Event(pipelinetest.CreatedObject(in, "incoming/a b+c.txt", []byte("copied")))); !res.OK() {
		t.Errorf("stale copy: %v", res.Err)
	}
	if got := string(e.get("cm-out", "copies/a b+c.txt")); got != "newer" {
		t.Errorf("after a stale event the copy is %q, want the newer version", got)
	}

	// The declared grants: what the stages read, write and delete.
	grants := func(s *pipeline.Stage) string {
		return fmt.Sprint(plumbing.Reads(s), plumbing.Writes(s), plumbing.Deletes(s))
	}
	if got := grants(cp); got != `[bucket cm-in prefix "incoming/"] [bucket cm-out prefix "copies/"] []` {
		t.Errorf("copy grants %s", got)
	}
	if got := grants(mv); got != `[bucket cm-in prefix "done/"] [bucket cm-in prefix "archive/"] [bucket cm-in prefix "done/"]` {
		t.Errorf("move grants %s", got)
	}
}

func TestMoveIntoItsOwnTriggerIsALoop(t *testing.T) {
	app := pipeline.New("moveloop", pipeline.CollectErrors())
	in := app.Bucket("ml-in")
	stages.Move(app, "move", in.Created(triggers.Prefix("in/")), in, "in/done/")
	if err := app.Validate(); err == nil || !strings.Contains(err.Error(), `stage "move" writes bucket ml-in prefix "in/done/"`) {
		t.Fatalf("Validate = %v", err)
	}
}

func TestIndex(t *testing.T) {
	app := pipeline.New("index")
	docs := app.Bucket("ix-docs")
	objects := app.Table("objects", pipeline.PartitionKey("bucket", pipeline.String), pipeline.SortKey("key", pipeline.String))
	ix := stages.Index(app, "index", docs.Created(triggers.Prefix("docs/")), objects)
	unix := stages.Index(app, "unindex", docs.Removed(triggers.Prefix("docs/")), objects)
	e := start(t, app)
	e.put("ix-docs", "docs/a.txt", []byte("hello"))
	e.put("ix-docs", "docs/b.txt", []byte("bye"))
	e.idle()
	e.remove("ix-docs", "docs/b.txt")
	e.idle()
	if f := e.failures(); len(f) > 0 {
		t.Fatal(f)
	}
	items := e.scan("objects")
	if len(items) != 1 || s(items[0]["key"]) != "docs/a.txt" || s(items[0]["bucket"]) != "ix-docs" || s(items[0]["size"]) != "5" || s(items[0]["etag"]) == "" {
		t.Fatalf("index = %v", items)
	}

	// Late events change nothing: an older removal of a.txt, and an older
	// creation of b.txt (removed since).
	h := pipelinetest.New(t, app, e.Endpoint())
	oldRemoval := pipelinetest.RemovedObject(docs, "docs/a.txt")
	setSequencer(oldRemoval, "0000")
	if res := h.Invoke(unix, pipelinetest.S3Event(oldRemoval)); !res.OK() {
		t.Fatal(res.Err)
	}
	if res := h.Invoke(ix, pipelinetest.S3Event(pipelinetest.CreatedObject(docs, "docs/b.txt", []byte("bye")))); !res.OK() {
		t.Fatal(res.Err)
	}
	if items := e.scan("objects"); len(items) != 1 || s(items[0]["key"]) != "docs/a.txt" {
		t.Errorf("after late events the index is %v", items)
	}
	if got := fmt.Sprint(plumbing.Reads(ix), plumbing.Writes(ix), plumbing.Reads(unix), plumbing.Writes(unix)); got != `[bucket ix-docs prefix "docs/"] [table objects] [] [table objects]` {
		t.Errorf("grants %s", got)
	}
}

func setSequencer(r pipelinetest.ObjectRecord, seq string) {
	r["s3"].(map[string]any)["object"].(map[string]any)["sequencer"] = seq
}

// Album and Photo are the cascade test's tables.
type Album struct {
	Name string `dynamodbav:"name"`
}

type Photo struct {
	Album string `dynamodbav:"album"`
	ID    string `dynamodbav:"id"`
}

func TestCascade(t *testing.T) {
	app := pipeline.New("cascade")
	files := app.Bucket("cc-files")
	albums := app.Table("albums", pipeline.PartitionKey("name", pipeline.String))
	photos := app.Table("photos", pipeline.PartitionKey("album", pipeline.String), pipeline.SortKey("id", pipeline.String))
	forget := stages.Cascade(app, "forget", albums.Changes(triggers.Remove),
		stages.DeleteItems(photos, func(a Album) any { return a.Name }),
		stages.DeleteObjects(files, "thumbs/", func(a Album) string { return a.Name + "/" }))
	e := start(t, app)
	ddb := e.DynamoDBClient()
	for _, album := range []string{"summer", "winter"} {
		for i := range 60 {
			_, err := ddb.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: ptr("photos"), Item: map[string]types.AttributeValue{
				"album": &types.AttributeValueMemberS{Value: album}, "id": &types.AttributeValueMemberS{Value: fmt.Sprint(i)}}})
			if err != nil {
				t.Fatal(err)
			}
		}
		e.put("cc-files", "thumbs/"+album+"/1.png", []byte("png"))
		e.put("cc-files", "thumbs/"+album+"/2.png", []byte("png"))
		ddb.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: ptr("albums"), Item: map[string]types.AttributeValue{"name": &types.AttributeValueMemberS{Value: album}}})
	}
	e.idle()
	if _, err := ddb.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: ptr("albums"), Key: map[string]types.AttributeValue{"name": &types.AttributeValueMemberS{Value: "summer"}}}); err != nil {
		t.Fatal(err)
	}
	e.idle()
	if f := e.failures(); len(f) > 0 {
		t.Fatal(f)
	}
	for _, it := range e.scan("photos") {
		if s(it["album"]) != "winter" {
			t.Fatalf("photo %v of the removed album is left", it)
		}
	}
	if n := e.count("photos"); n != 60 {
		t.Errorf("%d photos left, want winter's 60", n)
	}
	if got := e.keys("cc-files"); !reflect.DeepEqual(got, []string{"thumbs/winter/1.png", "thumbs/winter/2.png"}) {
		t.Errorf("files left: %v", got)
	}
	// Redelivery finds nothing left to remove and succeeds.
	h := pipelinetest.New(t, app, e.Endpoint())
	if res := h.Invoke(forget, pipelinetest.StreamEvent(pipelinetest.RemovedItem(albums, Album{Name: "summer"}))); !res.OK() {
		t.Errorf("redelivered cascade: %v %v", res.Err, res.Failed)
	}
	if got := fmt.Sprint(plumbing.Reads(forget), plumbing.Deletes(forget), plumbing.Writes(forget)); got != `[table photos bucket cc-files prefix "thumbs/"] [table photos bucket cc-files prefix "thumbs/"] []` {
		t.Errorf("grants %s", got)
	}
}

func ptr[T any](v T) *T { return &v }

type Session struct {
	ID      string `dynamodbav:"id"`
	User    string `dynamodbav:"user"`
	Expires int64  `dynamodbav:"expires"`
}

func TestArchive(t *testing.T) {
	app := pipeline.New("archive")
	vault := app.Bucket("ar-vault")
	sessions := app.Table("sessions", pipeline.PartitionKey("id", pipeline.String), pipeline.TimeToLive("expires"))
	arch := stages.Archive(app, "archive", sessions.Changes(triggers.Remove), vault, "removed/")
	e := start(t, app)
	ddb := e.DynamoDBClient()
	ddb.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: ptr("sessions"), Item: map[string]types.AttributeValue{
		"id": &types.AttributeValueMemberS{Value: "s/1"}, "user": &types.AttributeValueMemberS{Value: "ann"}, "expires": &types.AttributeValueMemberN{Value: "99"}}})
	e.idle()
	ddb.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: ptr("sessions"), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "s/1"}}})
	e.idle()
	if f := e.failures(); len(f) > 0 {
		t.Fatal(f)
	}
	keys := e.keys("ar-vault")
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "removed/sessions/") || !strings.Contains(keys[0], "/s%2F1@") {
		t.Fatalf("archive holds %v", keys)
	}
	var doc stages.Archived
	if err := json.Unmarshal(e.get("ar-vault", keys[0]), &doc); err != nil {
		t.Fatal(err)
	}
	var img map[string]map[string]string
	json.Unmarshal(doc.OldImage, &img)
	if doc.Table != "sessions" || img["user"]["S"] != "ann" || img["expires"]["N"] != "99" || doc.Expired {
		t.Errorf("archived %+v (image %v)", doc, img)
	}
	// The same record again writes the same object.
	h := pipelinetest.New(t, app, e.Endpoint())
	rec := pipelinetest.RemovedItem(sessions, Session{ID: "s2", User: "bob"})
	for range 2 {
		if res := h.Invoke(arch, pipelinetest.StreamEvent(rec)); !res.OK() {
			t.Fatal(res.Err, res.Failed)
		}
	}
	if n := len(e.keys("ar-vault")); n != 2 {
		t.Errorf("%d archived objects, want 2", n)
	}
}

func TestStreamStageDeclarationErrors(t *testing.T) {
	cases := []struct {
		name string
		decl func(app *pipeline.App)
		want string
	}{
		{"cascade on inserts", func(app *pipeline.App) {
			tb := app.Table("albums", pipeline.PartitionKey("name", pipeline.String))
			stages.Cascade(app, "c", tb.Changes(triggers.Insert), stages.DeleteItems(tb, func(a Album) any { return a.Name }))
		}, "add triggers.Remove"},
		{"cascade without targets", func(app *pipeline.App) {
			tb := app.Table("albums", pipeline.PartitionKey("name", pipeline.String))
			stages.Cascade[Album](app, "c", tb.Changes(triggers.Remove))
		}, "without targets"},
		{"archive without old images", func(app *pipeline.App) {
			tb := app.Table("albums", pipeline.PartitionKey("name", pipeline.String), pipeline.Stream(pipeline.ViewNewImage))
			stages.Archive(app, "c", tb.Changes(triggers.Remove), app.Bucket("arch-b"), "x/")
		}, "without the old images"},
		{"index both ways", func(app *pipeline.App) {
			b := app.Bucket("ix-b")
			tb := app.Table("objects", pipeline.PartitionKey("key", pipeline.String))
			stages.Index(app, "c", triggerplumbing.NewObjectTrigger(b.Name(), []triggers.S3Event{triggers.ObjectCreated, triggers.ObjectRemoved}), tb)
		}, "declare two stages"},
		{"copy of another app's bucket", func(app *pipeline.App) {
			b := app.Bucket("cp-b")
			stages.Copy(app, "c", b.Created(), pipeline.New("other").Bucket("cp-other"), "x/")
		}, "is not a bucket of app"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, c.want) || !strings.Contains(msg, `stage "c"`) {
					t.Errorf("panic %q does not name the stage and say %q", msg, c.want)
				}
			}()
			c.decl(pipeline.New("decl"))
		})
	}
}

// TestMisdeclarationCollected: for an app that collects errors, a refused
// ready-made stage is reported by Validate instead of panicking, and the
// constructor still returns a stage the documented chained calls work on.
func TestMisdeclarationCollected(t *testing.T) {
	app := pipeline.New("collect", pipeline.CollectErrors())
	other := pipeline.New("other")
	in := app.Bucket("collect-in")
	foreign := other.Table("foreign", pipeline.PartitionKey("id", pipeline.String))
	people := app.Table("people", pipeline.PartitionKey("id", pipeline.String))
	type person struct {
		ID string `dynamodbav:"id"`
	}

	index := stages.Index(app, "index", in.Created(), foreign).Timeout(time.Minute)
	load := stages.Load[person](app, "load", in.Removed(), people).Timeout(time.Minute).Memory(512)
	cascade := stages.Cascade[person](app, "cascade", people.Changes(triggers.Insert)).Timeout(time.Minute)
	for _, st := range []*pipeline.Stage{index, load, cascade} {
		if st == nil || st.Function().Timeout != time.Minute {
			t.Fatalf("stage %v: the chained Timeout did not apply", st)
		}
		if app.StageNamed(st.Name()) != st {
			t.Errorf("stage %q is not the app's", st.Name())
		}
	}
	err := app.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want the refused stages' errors")
	}
	for _, want := range []string{
		`stages: stage "index": the index table "foreign" is not a table of app`,
		`stages: stage "load": Load needs an ObjectCreated trigger`,
		`stages: stage "cascade": Cascade without targets`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v\nwant it to contain %q", err, want)
		}
	}

	// A stand-in stage fails every invocation with the declaration error
	// rather than doing something half-declared.
	_, err = plumbing.Invoke(context.Background(), load, &pipeline.Env{}, pipelinetest.S3Event(pipelinetest.RemovedObject(in, "x.csv")))
	if err == nil || !strings.Contains(err.Error(), "Load needs an ObjectCreated trigger") {
		t.Errorf("invoking the refused stage: %v, want its declaration error", err)
	}
}
