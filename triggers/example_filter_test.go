package triggers_test

import (
	"fmt"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Filters compile to the Lambda FilterCriteria of the event source mapping,
// and Matches evaluates the same patterns locally. A condition Lambda would
// never match is refused: its exists operator only sees a value under its
// type letter, so Exists needs the type declared with As. A test can
// check a filter this way without deploying anything.
func ExampleWhere() {
	app := pipeline.New("gallery")
	photos := app.Table("photos", pipeline.PartitionKey("id", pipeline.String))

	t := photos.Changes(triggers.Insert,
		triggers.Where(triggers.NewImage("status").Equals("ready"), triggers.NewImage("size").Exists()))
	if _, err := t.Patterns(); err != nil {
		fmt.Println(err)
	}

	t = photos.Changes(triggers.Insert,
		triggers.Where(triggers.NewImage("status").Equals("ready"), triggers.NewImage("size").As(triggers.TypeNumber).Exists()),
		triggers.Where(triggers.NewImage("size").IsNumber(1024)))
	patterns, err := t.Patterns()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range patterns {
		fmt.Println(p)
	}

	record := []byte(`{"eventName": "INSERT", "dynamodb": {"Keys": {"id": {"S": "p1"}},
		"NewImage": {"id": {"S": "p1"}, "status": {"S": "ready"}, "size": {"N": "2048"}}}}`)
	ok, err := t.Matches(record)
	fmt.Println(ok, err)
	// Output:
	// triggers: stream trigger on "photos": a Where filter was refused, so its filter criteria would be incomplete: Where: NewImage "size" Exists(): Lambda's exists operator only sees leaf values, and a DynamoDB attribute's value sits under its type letter ({"S": "..."}), so declare the type: NewImage("size").As(triggers.TypeString).Exists()
	// {"dynamodb":{"NewImage":{"size":{"N":[{"exists":true}]},"status":{"S":["ready"]}}},"eventName":["INSERT"]}
	// {"dynamodb":{"NewImage":{"size":{"N":["1024"]}}},"eventName":["INSERT"]}
	// true <nil>
}
