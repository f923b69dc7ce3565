package triggers_test

import (
	"fmt"

	"github.com/nanopipe/nanopipe/triggers"
)

// Filters compile to the Lambda FilterCriteria of the event source mapping,
// and Match evaluates the same patterns locally. A numeric comparison is
// refused: DynamoDB stream records carry numbers as strings, and AWS
// documents that Lambda's numeric operators do not work on them.
func ExampleWhere() {
	t := triggers.NewStreamTrigger("photos", triggers.Inserts,
		triggers.Where(triggers.NewImage("status").Equals("ready"), triggers.NewImage("size").Above(1024)))
	if _, err := t.Patterns(); err != nil {
		fmt.Println(t.Err())
	}

	t = triggers.NewStreamTrigger("photos", triggers.Inserts,
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
	ok, err := t.Match(record)
	fmt.Println(ok, err)
	// Output:
	// Where: NewImage "size" Above(1024): Lambda cannot compare DynamoDB numbers: stream records carry N values as JSON strings and AWS documents that DynamoDB event filtering does not support numeric operators, so this filter would match no record and Lambda would drop them all; match exact values with IsNumber, or test the range in the stage
	// {"dynamodb":{"NewImage":{"size":{"N":[{"exists":true}]},"status":{"S":["ready"]}}},"eventName":["INSERT"]}
	// {"dynamodb":{"NewImage":{"size":{"N":["1024"]}}},"eventName":["INSERT"]}
	// true <nil>
}
