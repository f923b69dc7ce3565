package local

import "github.com/nanopipe/nanopipe/local/internal/engine"

// Delivery is one delivery attempt (or dead-lettering) of an event or a
// stream batch to a stage, as Options.Observer is told of it and as `dev`
// prints it.
type Delivery = engine.Delivery

// Outcomes of a Delivery.
const (
	OutcomeOK           = engine.OutcomeOK           // the invocation succeeded
	OutcomeFailed       = engine.OutcomeFailed       // the function returned an error or panicked
	OutcomePartial      = engine.OutcomePartial      // a stream batch reported some records failed
	OutcomeTimeout      = engine.OutcomeTimeout      // the invocation overran the function's timeout
	OutcomeDeadLettered = engine.OutcomeDeadLettered // sent to the dead letters
	OutcomeDiscarded    = engine.OutcomeDiscarded    // failed for good with on-failure Discard
)
