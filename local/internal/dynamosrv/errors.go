package dynamosrv

import "net/http"

// APIError is an error answered in DynamoDB's JSON error shape; Type is the
// exception name the SDKs map to their error types.
type APIError struct {
	Type    string
	Message string
	Status  int
	// Item is the item a failed condition saw, for
	// ReturnValuesOnConditionCheckFailure ALL_OLD.
	Item Item
	// Reasons are a cancelled transaction's cancellation reasons.
	Reasons []CancellationReason
	// perItem marks a refusal that a transaction reports as the item's
	// ValidationError cancellation reason (an update of a key attribute,
	// an item over 400 KB) instead of refusing the whole request.
	perItem bool
}

// CancellationReason explains one action of a cancelled transaction.
type CancellationReason struct {
	Code    string `json:"Code"`
	Message string `json:"Message,omitempty"`
	Item    Item   `json:"Item,omitempty"`
}

func (e *APIError) Error() string { return e.Type + ": " + e.Message }

func validation(msg string) error {
	return &APIError{Type: "ValidationException", Message: msg, Status: http.StatusBadRequest}
}

// itemInvalid is a ValidationException that a transaction reports as a
// cancellation reason.
func itemInvalid(msg string) error {
	return &APIError{Type: "ValidationException", Message: msg, Status: http.StatusBadRequest, perItem: true}
}

func notFound(msg string) error {
	return &APIError{Type: "ResourceNotFoundException", Message: msg, Status: http.StatusBadRequest}
}

func conditionFailed(item Item) *APIError {
	return &APIError{Type: "ConditionalCheckFailedException", Message: "The conditional request failed", Status: http.StatusBadRequest, Item: item}
}

func inUse(msg string) error {
	return &APIError{Type: "ResourceInUseException", Message: msg, Status: http.StatusBadRequest}
}
