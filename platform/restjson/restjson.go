// Package restjson writes proto messages in the public REST API's JSON
// shape: what protojson writes with UseProtoNames and EmitDefaultValues,
// except that 64-bit integers are JSON numbers, as 32-bit ones are
// ({"currency": "USD", "amount_minor": 2499}, "version": 7,
// "stock_available": 12, "size_bytes": 1048576); protojson writes them as
// strings. One rule for every number of the API: the public int64 fields are
// amounts in minor units, versions, counts and sizes, all far below 2^53, so
// JavaScript clients read them exactly; the OpenAPI document says
// `type: integer, format: int64`. Requests may send either form (protojson
// reads both).
//
// Messages are encoded in one pass by walking them with protoreflect, byte
// for byte what protojson writes less its random insignificant spaces;
// well-known types other than Timestamp are handed to protojson itself. The
// gateway's responses and the webhook deliveries that carry the same objects
// use it, so a seller reads one shape everywhere.
package restjson

import (
	"encoding/base64"
	"errors"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Marshal returns m as the public API writes it.
func Marshal(m proto.Message) ([]byte, error) { return Append(make([]byte, 0, 512), m) }

// Append appends m as the public API writes it to b. It refuses what
// protojson would refuse too (invalid UTF-8 in a string).
func Append(b []byte, m proto.Message) ([]byte, error) { return appendMessage(b, m.ProtoReflect()) }

const timestampName protoreflect.FullName = "google.protobuf.Timestamp"

const wellKnownPrefix = "google.protobuf."

// wellKnownJSON encodes the well-known types restJSON does not handle itself.
var wellKnownJSON = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}

// appendMessage appends m as a JSON object: the fields in declaration order,
// unset fields without presence with their default value, unset fields with
// presence (messages, optional and oneof members) left out.
func appendMessage(b []byte, m protoreflect.Message) ([]byte, error) {
	md := m.Descriptor()
	name := md.FullName()
	if name == timestampName {
		return appendTimestamp(b, m)
	}
	if len(name) > len(wellKnownPrefix) && name[:len(wellKnownPrefix)] == wellKnownPrefix {
		j, err := wellKnownJSON.Marshal(m.Interface())
		if err != nil {
			return nil, err
		}
		return append(b, j...), nil
	}
	b = append(b, '{')
	first := true
	fds := md.Fields()
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		if !m.Has(fd) && (fd.HasPresence() || fd.ContainingOneof() != nil) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, fd.TextName())
		b = append(b, ':')
		v := m.Get(fd)
		var err error
		switch {
		case fd.IsList():
			l := v.List()
			b = append(b, '[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					b = append(b, ',')
				}
				if b, err = appendSingular(b, l.Get(j), fd); err != nil {
					return nil, err
				}
			}
			b = append(b, ']')
		case fd.IsMap():
			b, err = appendMap(b, v.Map(), fd)
		default:
			b, err = appendSingular(b, v, fd)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func appendMap(b []byte, mp protoreflect.Map, fd protoreflect.FieldDescriptor) ([]byte, error) {
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	if fd.MapKey().Kind() != protoreflect.StringKind {
		return nil, errors.New("restjson: only string map keys are supported")
	}
	sortKeys(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k.String())
		b = append(b, ':')
		var err error
		if b, err = appendSingular(b, mp.Get(k), fd.MapValue()); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func sortKeys(keys []protoreflect.MapKey) {
	for i := 1; i < len(keys); i++ { // maps here hold a handful of entries
		for j := i; j > 0 && keys[j].String() < keys[j-1].String(); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

// appendSingular appends one value.
func appendSingular(b []byte, v protoreflect.Value, fd protoreflect.FieldDescriptor) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.StringKind:
		s := v.String()
		if !utf8.ValidString(s) {
			return nil, errors.New("restjson: invalid UTF-8 in " + string(fd.FullName()))
		}
		return appendString(b, s), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), nil
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"'), nil
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return append(b, "null"...), nil
		}
		if d := fd.Enum().Values().ByNumber(v.Enum()); d != nil {
			return appendString(b, string(d.Name())), nil
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message())
	}
	return nil, errors.New("restjson: unsupported kind " + fd.Kind().String())
}

// appendTimestamp writes RFC 3339 in UTC with 0, 3, 6 or 9 fractional
// digits, as protojson does; an out-of-range value is protojson's error.
func appendTimestamp(b []byte, m protoreflect.Message) ([]byte, error) {
	fds := m.Descriptor().Fields()
	secs := m.Get(fds.ByNumber(1)).Int()
	nanos := m.Get(fds.ByNumber(2)).Int()
	if secs < -62135596800 || secs > 253402300799 || nanos < 0 || nanos > 999_999_999 {
		_, err := wellKnownJSON.Marshal(m.Interface())
		if err == nil {
			err = errors.New("restjson: invalid timestamp")
		}
		return nil, err
	}
	t := time.Unix(secs, nanos).UTC()
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	switch {
	case nanos == 0:
	case nanos%1_000_000 == 0:
		b = appendFrac(b, nanos/1_000_000, 3)
	case nanos%1_000 == 0:
		b = appendFrac(b, nanos/1_000, 6)
	default:
		b = appendFrac(b, nanos, 9)
	}
	return append(b, 'Z', '"'), nil
}

func appendFrac(b []byte, v int64, digits int) []byte {
	b = append(b, '.')
	var buf [9]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:digits]...)
}

// appendString is protojson's string encoding: only '"', '\\' and control
// characters are escaped (the caller has checked the UTF-8).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= ' ' && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\')
		switch c {
		case '"', '\\':
			b = append(b, c)
		case '\b':
			b = append(b, 'b')
		case '\f':
			b = append(b, 'f')
		case '\n':
			b = append(b, 'n')
		case '\r':
			b = append(b, 'r')
		case '\t':
			b = append(b, 't')
		default:
			b = append(b, 'u')
			b = append(b, "0000"[1+(bits.Len32(uint32(c))-1)/4:]...)
			b = strconv.AppendUint(b, uint64(c), 16)
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat is protojson's number formatting (encoding/json's rules; NaN
// and the infinities as strings).
func appendFloat(b []byte, n float64, bitSize int) []byte {
	switch {
	case math.IsNaN(n):
		return append(b, `"NaN"`...)
	case math.IsInf(n, +1):
		return append(b, `"Infinity"`...)
	case math.IsInf(n, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, n, format, -1, bitSize)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
