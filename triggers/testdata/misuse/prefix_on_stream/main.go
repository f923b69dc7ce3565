// An S3 option given to a stream trigger must not compile.
package main

import "github.com/nanopipe/nanopipe/triggers"

func main() {
	_ = triggers.NewStreamTrigger("photos", triggers.Prefix("x/"))
}
