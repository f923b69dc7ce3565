// An S3 option given to a stream trigger must not compile.
package main

import (
	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/triggers"
)

func main() {
	_ = triggerplumbing.NewStreamTrigger("photos", triggers.Prefix("x/"))
}
