package pipeline

import "fmt"

// Observability is how the deployed functions of an app or stage report
// what they do: X-Ray active tracing, and the level of the JSON logs
// Lambda keeps. The local environment ignores it.
type Observability struct {
	// Tracing turns on X-Ray active tracing: Lambda samples invocations
	// and records their initialization, invocation and overhead segments,
	// and the runtime records each S3 and DynamoDB call the stages make
	// through their handles as a subsegment.
	Tracing bool
	// LogLevel is the lowest level of the logs kept: "debug", "info",
	// "warn" or "error"; "" is "info". Lambda drops the records below it
	// (its JSON log format carries the level), and the runtime does not
	// write them.
	LogLevel string
}

// Log levels Observability.LogLevel accepts.
const (
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"
)

func checkLogLevel(l string) error {
	switch l {
	case LogDebug, LogInfo, LogWarn, LogError:
		return nil
	}
	return fmt.Errorf("LogLevel(%q): use pipeline.LogDebug, LogInfo, LogWarn or LogError", l)
}

// Tracing turns on X-Ray active tracing for every function of the app.
//
//	app := pipeline.New("orders", pipeline.Tracing())
func Tracing() Option { return func(a *App) { a.obs.Tracing = true } }

// LogLevel sets the log level of every function of the app: LogDebug,
// LogInfo (the default), LogWarn or LogError. A stage's own LogLevel wins.
func LogLevel(level string) Option {
	return func(a *App) {
		if err := checkLogLevel(level); err != nil {
			a.fail(fmt.Errorf("pipeline: app %q: %w", a.name, err))
			return
		}
		a.obs.LogLevel = level
	}
}

// Tracing turns on X-Ray active tracing for the stage's function. In a
// group, one traced stage traces the group's function.
func (s *Stage) Tracing() *Stage {
	s.obs.Tracing = true
	return s
}

// LogLevel sets the log level of the stage's function, over the app's. In
// a group the most verbose level of its stages applies.
func (s *Stage) LogLevel(level string) *Stage {
	if err := checkLogLevel(level); err != nil {
		s.app.fail(fmt.Errorf("pipeline: stage %q: %w", s.name, err))
		return s
	}
	s.obs.LogLevel = level
	return s
}

// Observability returns what the app declares for all its functions.
func (a *App) Observability() Observability { return a.obs }

// Observability returns what applies to the stage: its own declaration
// over the app's.
func (s *Stage) Observability() Observability {
	o := s.app.obs
	if s.obs.Tracing {
		o.Tracing = true
	}
	if s.obs.LogLevel != "" {
		o.LogLevel = s.obs.LogLevel
	}
	return o
}
