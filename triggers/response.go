package triggers

// BatchResponse is what a stream stage returns to Lambda: the records to
// retry (the first failing record and every record after it in the batch),
// and, for tumbling windows, the state to carry to the next invocation.
// Its JSON is Lambda's partial batch response; an empty BatchItemFailures
// acknowledges the whole batch.
type BatchResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
	State             map[string]string  `json:"state,omitempty"`
}

// BatchItemFailure names one record Lambda must retry, by sequence number.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}
