// Package envhook lends nanopipe's own tests and tools parts of a running
// local.Environment that are not API: the emulator runner, the embedded
// streams, the dead-letter store, and a shared DynamoDB Local. Package local sets the functions in
// its init; they take the *local.Environment as any, which this package
// cannot name without an import cycle.
package envhook

import (
	"github.com/nanopipe/nanopipe/local/internal/deadletter"
	"github.com/nanopipe/nanopipe/local/internal/dynamolocal"
	"github.com/nanopipe/nanopipe/local/internal/engine"
	"github.com/nanopipe/nanopipe/local/internal/rie"
)

var (
	// Runner returns the runner of the emulators with Options.RIE, else nil.
	Runner func(env any) *rie.Runner
	// Streams reads the embedded DynamoDB's streams in-process; nil with
	// an external DynamoDB.
	Streams func(env any) engine.StreamSource
	// Letters returns the dead-letter store.
	Letters func(env any) *deadletter.Store
	// SetDynamoDBLocal makes the *local.Options opts use srv, a running
	// DynamoDB Local (possibly in a private network namespace, reachable
	// only through its own transport), for the tables; the environment's
	// Close leaves it running. Tests share one server this way.
	SetDynamoDBLocal func(opts any, srv *dynamolocal.Server)
)
