// Package ddbjson decodes the JSON that Lambda hands to a function bound to a
// DynamoDB stream, without going through encoding/json or the generic
// types.AttributeValue tree.
//
// The package has these entry points:
//
//   - ParseEvent scans a whole invocation payload once. It unescapes the
//     record metadata and keeps each record object and its Keys, NewImage and
//     OldImage as sub-slices of the input, so no image is copied or decoded
//     until someone asks for it.
//   - ParseEventFunc is ParseEvent that also lets the caller decode each
//     image in place as the scan reaches it, so that the payload is read
//     once rather than once to find the images and once to decode them.
//   - Unmarshal decodes one image (a DynamoDB-JSON attribute map) straight
//     into a Go value, following the rules of attributevalue.UnmarshalMap from
//     aws-sdk-go-v2 with default options: `dynamodbav` tags, the same field
//     name matching, the same number, set, NULL, time.Time and interface{}
//     conversions, the same error types.
//   - AttributeMap builds the types.AttributeValue form of an attribute map,
//     used for the (small) Keys of a record.
//
// Why a separate decoder: the usual path (encoding/json into aws-lambda-go's
// event types, which decode every attribute through map[string]interface{},
// then conversion to types.AttributeValue, then attributevalue's
// reflection-driven decoder) allocates and walks every value three times.
// Here an image is read once, and the work per attribute is driven by a
// decode plan computed once per Go type and cached.
//
// Where a target is too unusual to be worth a fast path (non-empty interface
// types, interfaces that already hold a value, map keys that implement
// encoding.TextUnmarshaler, named pointer types), the decoder builds the
// types.AttributeValue of just that value and hands it to attributevalue
// itself, so the result is the same by construction. Types implementing
// attributevalue.Unmarshaler are handled the same way: they get the
// types.AttributeValue of their subtree.
//
// Decoded strings are not copies of one another, but short ones share
// their backing memory in chunks of 512 bytes per image: a string kept from
// an item keeps at most such a chunk alive, never the payload. That saves
// most of the allocations of a decode.
//
// Like attributevalue's decoder (unlike its encoder), Unmarshal does not
// decode sets into map[T]bool or map[T]struct{}: that is a type error.
//
// Deliberate differences from attributevalue, all in corner cases:
//
//   - Attributes that match no field of the target struct are skipped as
//     plain JSON; they are not checked to be well-formed attribute values.
//   - Where attributevalue panics (a [N]byte array whose length differs from
//     the binary value's, a nil pointer to an unexported embedded struct, an
//     unexported embedded non-struct field, a panic inside the fallback), the
//     decoder returns an error instead.
//   - An attribute value object must have exactly one member; {} and
//     {"S":"a","N":"1"} are errors rather than being read as NULL or as one
//     member chosen by map iteration order.
//   - When one attribute name occurs twice in the same map, both occurrences
//     are decoded in order (the last wins), where the reference keeps the last
//     one only.
package ddbjson
