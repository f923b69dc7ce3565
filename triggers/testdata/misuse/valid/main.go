// Options of each kind, and the ones both kinds take, compile.
package main

import (
	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/triggers"
)

func main() {
	_ = triggerplumbing.NewObjectTrigger("uploads", []triggers.S3Event{triggers.ObjectCreated},
		triggers.Prefix("in/"), triggers.Suffix(".jpg"), triggers.Retries(1), triggers.OnFailure(triggers.Discard()))
	_ = triggerplumbing.NewStreamTrigger("photos", triggers.Insert, triggers.Modify, triggers.BatchSize(10),
		triggers.Retries(5), triggers.OnFailure(triggers.Discard()),
		triggers.Where(triggers.NewImage("status").Equals("ready")))
}
