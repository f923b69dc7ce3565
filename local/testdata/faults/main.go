// Command faults is the Lambda main of the faults test app.
package main

import "github.com/nanopipe/nanopipe/local/testdata/faults/app"

func main() { app.App.Main() }
