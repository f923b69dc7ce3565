// Command hello is the smallest Lambda main, for the build tests: they
// check how the cdk package builds a bootstrap, not what it runs.
package main

import "os"

func main() { os.Exit(0) }
