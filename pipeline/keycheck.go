package pipeline

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/nanopipe/nanopipe/internal/triggerplumbing"
	"github.com/nanopipe/nanopipe/triggers"
)

// checkKeys refuses, for a stage triggered by a table's stream, what
// would make its filter never match or its items lose their keys: a
// filter on Keys naming an attribute that is not a key of the table, or
// testing a key with another type than the table declares, and an item
// type without the table's key attributes.
func (s *Stage) checkKeys() []error {
	t := s.Table()
	if t == nil {
		return nil
	}
	where := fmt.Sprintf("pipeline: stage %q on table %q", s.name, t.name)
	var errs []error
	for _, f := range s.stream.Filters {
		for _, c := range f.Conditions() {
			a := c.Attr()
			if a.Image() != "Keys" {
				continue
			}
			path := a.Path()
			k := t.keyNamed(path[0])
			if k == nil {
				errs = append(errs, fmt.Errorf("%s: filter on %s: %q is not a key of table %q (its key is %s); a record's Keys carry only the key attributes, so the filter never matches: test triggers.NewImage(%q) or triggers.OldImage(%q) instead",
					where, a, path[0], t.name, t.keyText(), path[0], path[0]))
				continue
			}
			if len(path) > 1 {
				errs = append(errs, fmt.Errorf("%s: filter on %s: key %q is %s, which has no nested attributes; test triggers.Key(%q) itself", where, a, k.Name, typeWord(k.Type), k.Name))
				continue
			}
			if typ := c.Type(); typ != "" && typ != string(k.Type) {
				errs = append(errs, fmt.Errorf("%s: filter on %s: %s tests %s, but table %q declares key %q %s, so the filter never matches: %s",
					where, a, c, typeWord(AttrType(typ)), t.name, k.Name, typeWord(k.Type), keyConditionFix(*k)))
			}
		}
	}
	// Item types that decode themselves are not checked.
	if it := s.itemType; it != nil && !it.Implements(unmarshalerType) && !reflect.PointerTo(it).Implements(unmarshalerType) {
		for _, k := range t.keyAttrs() {
			probe := triggerplumbing.NewStreamTrigger(t.name, triggers.Where(triggers.NewImage(k.Name).As(string(k.Type)).Exists()))
			if err := triggerplumbing.CheckItemType(&probe, it); err != nil {
				role := "partition key"
				if t.sort != nil && k.Name == t.sort.Name {
					role = "sort key"
				}
				detail := err.Error()
				if _, after, ok := strings.Cut(detail, ": "); ok {
					detail = after
				}
				errs = append(errs, fmt.Errorf("%s: item type %s does not hold the table's %s %q as %s (%s); its changes would decode without the key, and Get, Put or Delete with the item would miss it: add a field tagged `dynamodbav:%q` of that type, or correct the key's name in the table's declaration",
					where, it, role, k.Name, typeWord(k.Type), detail, k.Name))
			}
		}
	}
	return errs
}

var unmarshalerType = reflect.TypeFor[attributevalue.Unmarshaler]()

func (t *Table) keyNamed(name string) *KeyAttr {
	for _, k := range t.keyAttrs() {
		if k.Name == name {
			return &k
		}
	}
	return nil
}

func keyConditionFix(k KeyAttr) string {
	switch k.Type {
	case String:
		return fmt.Sprintf("compare it as a string: triggers.Key(%q).Equals(\"3\"), OneOf, HasPrefix", k.Name)
	case Number:
		return fmt.Sprintf("compare it as a number: triggers.Key(%q).IsNumber(3)", k.Name)
	}
	return fmt.Sprintf("declare the key's type with triggers.Key(%q).As(%q)", k.Name, string(k.Type))
}
