package local

import "github.com/nanopipe/nanopipe/local/internal/engine"

// Delivery is one delivery attempt (or dead-lettering) of an event or a
// stream batch to a stage, as Options.Observer is told of it and as `dev`
// prints it. Its fields: Time; Stage (the stage's name); Source ("aws:s3"
// or "aws:dynamodb"); Event (a description of the event or batch);
// Attempt (1 for the first); Records; Duration; Outcome (one of the
// Outcome constants); Failed (the records a stream batch reported
// failed); Error; Letter (the dead letter's ID for OutcomeDeadLettered).
type Delivery = engine.Delivery

// Outcomes of a Delivery, as its Outcome field and the dev command's
// lines spell them: "ok", "failed", "partial", "timeout", "dead-lettered"
// and "discarded".
const (
	OutcomeOK           = engine.OutcomeOK           // the invocation succeeded
	OutcomeFailed       = engine.OutcomeFailed       // the function returned an error or panicked
	OutcomePartial      = engine.OutcomePartial      // a stream batch reported some records failed
	OutcomeTimeout      = engine.OutcomeTimeout      // the invocation overran the function's timeout
	OutcomeDeadLettered = engine.OutcomeDeadLettered // sent to the dead letters
	OutcomeDiscarded    = engine.OutcomeDiscarded    // failed for good with on-failure Discard
)
