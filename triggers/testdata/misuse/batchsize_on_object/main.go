// A stream option given to an S3 trigger must not compile.
package main

import "github.com/nanopipe/nanopipe/triggers"

func main() {
	_ = triggers.NewObjectTrigger("uploads", []triggers.S3Event{triggers.ObjectCreated}, triggers.BatchSize(10))
}
