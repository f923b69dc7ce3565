// A kind of change given to an S3 trigger must not compile.
package main

import (
	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/triggers"
)

func main() {
	_ = triggerplumbing.NewObjectTrigger("uploads", []triggers.S3Event{triggers.ObjectCreated}, triggers.Prefix("in/"), triggers.Insert)
}
