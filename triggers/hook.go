package triggers

import "github.com/nanopipe/nanopipe/internal/triggerplumbing/hook"

// init lends nanopipe's other packages what they need of triggers and
// users do not (see internal/triggerplumbing).
func init() {
	hook.NewObjectTrigger = newObjectTrigger
	hook.NewStreamTrigger = newStreamTrigger
	hook.ObjectErr = (*ObjectTrigger).err
	hook.StreamErr = (*StreamTrigger).err
	hook.CheckItemType = (*StreamTrigger).checkItemType
}
