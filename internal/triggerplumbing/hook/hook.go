// Package hook is where package triggers leaves the functions it lends
// nanopipe's other packages without making them API. Package
// triggerplumbing gives them their types; use that.
package hook

// The lent functions, set by package triggers in its init. They are typed
// any because this package cannot name triggers' types without an import
// cycle; triggerplumbing asserts them to their types.
var (
	NewObjectTrigger any
	NewStreamTrigger any
	ObjectErr        any
	StreamErr        any
	CheckItemType    any
)
