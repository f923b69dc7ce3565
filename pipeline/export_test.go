package pipeline

// StageFrom gives the external tests the stage running in a context.
var StageFrom = stageFrom
