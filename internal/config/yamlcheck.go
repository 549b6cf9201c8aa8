package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong in a config file, at a key.
type Problem struct {
	Path string // the key's full path, e.g. hosts.spark.adress or services.web.update[1].run
	Line int
	Msg  string
	// UnknownKey is a key the config does not take (Path names it); otherwise
	// the value at Path is wrong.
	UnknownKey bool
}

func (p Problem) Error() string {
	if p.Line == 0 {
		return p.Path + ": " + p.Msg
	}
	return fmt.Sprintf("%s: %s (line %d)", p.Path, p.Msg, p.Line)
}

// Checker is a config value that can tell, once decoded, whether it can be
// used: a secret whose environment variable is unset cannot.
type Checker interface {
	Check() error
}

// CheckNode walks a YAML document against the Go type it decodes into (its
// yaml tags) and reports every problem it finds, each at its full path: keys
// the type does not take (with the closest known key), keys given twice,
// values that do not decode into their field, values their field's `check`
// tag refuses (check:"positive": when given, above zero), and Checkers that
// fail. It removes what it reports from the document, so that the rest then
// decodes without error and can be validated further. moved maps paths of
// keys that were renamed or moved to what to say instead of "unknown key".
func CheckNode(doc *yaml.Node, t reflect.Type, moved map[string]string) []Problem {
	w := walker{moved: moved}
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if !w.walk(n, t, "", "") {
		*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	return w.problems
}

type walker struct {
	moved    map[string]string
	problems []Problem
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	durationType    = reflect.TypeFor[Duration]()
)

func (w *walker) bad(path string, n *yaml.Node, format string, args ...any) {
	w.problems = append(w.problems, Problem{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

// walk checks n against t; false means the value is wrong (and reported), so
// the caller replaces it with null.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path, check string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return true
	}
	if n.Kind == yaml.AliasNode || reflect.PointerTo(t).Implements(unmarshalerType) {
		return w.decode(n, t, path, check)
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.bad(path, n, "must be a section of keys, not %s", describe(n))
			return false
		}
		fields := structFields(t)
		w.mapping(n, path, func(key string) (reflect.Type, string, bool) {
			f, ok := fields[key]
			return f.typ, f.check, ok
		}, slices.Sorted(maps.Keys(fields)))
		return true
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.bad(path, n, "must be a mapping of names to their settings, not %s", describe(n))
			return false
		}
		w.mapping(n, path, func(string) (reflect.Type, string, bool) { return t.Elem(), "", true }, nil)
		return true
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.bad(path, n, "must be a list, not %s", describe(n))
			return false
		}
		for i, item := range n.Content {
			if !w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), "") {
				nullify(item)
			}
		}
		return true
	case reflect.Interface:
		return true
	}
	return w.decode(n, t, path, check)
}

// mapping checks each key of n: known keys' values are walked, unknown and
// repeated keys are reported and removed.
func (w *walker) mapping(n *yaml.Node, path string, field func(key string) (reflect.Type, string, bool), known []string) {
	seen := map[string]int{}
	var kept []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		keyPath := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.bad(keyPath, k, "given twice (first on line %d); keep one", first)
			continue
		}
		seen[k.Value] = k.Line
		t, check, ok := field(k.Value)
		if !ok {
			w.problems = append(w.problems, Problem{Path: keyPath, Line: k.Line, Msg: w.unknown(keyPath, k.Value, known), UnknownKey: true})
			continue
		}
		if !w.walk(v, t, keyPath, check) {
			nullify(v)
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
}

func (w *walker) unknown(path, key string, known []string) string {
	if msg, ok := w.moved[path]; ok {
		return msg
	}
	if c := Closest(key, known); len(c) > 0 {
		return fmt.Sprintf("unknown key; did you mean %s?", c[0])
	}
	return "unknown key; the keys here are " + strings.Join(known, ", ")
}

// decode decodes one value into a new t, as the real decode will, and checks it.
func (w *walker) decode(n *yaml.Node, t reflect.Type, path, check string) bool {
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		w.bad(path, n, "%s", explainDecodeError(err, n))
		return false
	}
	if check == "positive" {
		if msg := notPositive(v.Elem(), n.Value); msg != "" {
			w.bad(path, n, "%s; leave the key out for its default", msg)
			return false
		}
	}
	if c, ok := v.Interface().(Checker); ok {
		if err := c.Check(); err != nil {
			w.bad(path, n, "%v", err)
		}
	}
	return true
}

// notPositive says what is wrong with v, written as given, if it is not above zero.
func notPositive(v reflect.Value, given string) string {
	if v.Type() == durationType {
		if v.Interface().(Duration).Duration <= 0 {
			return fmt.Sprintf("must be a positive duration such as 30s, 10m or 1h, got %s", given)
		}
		return ""
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() <= 0 {
			return fmt.Sprintf("must be a whole number of at least 1, got %s", given)
		}
	}
	return ""
}

var (
	linePrefixRE = regexp.MustCompile(`^line \d+: `)
	cannotRE     = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// explainDecodeError turns yaml.v3's words ("cannot unmarshal !!str `x` into
// int") into the user's.
func explainDecodeError(err error, n *yaml.Node) string {
	var msgs []string
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) {
		msgs = typeErr.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	for i, msg := range msgs {
		msg = linePrefixRE.ReplaceAllString(msg, "")
		if m := cannotRE.FindStringSubmatch(msg); m != nil {
			got := describe(n)
			switch into := m[3]; {
			case strings.HasPrefix(into, "int") || strings.HasPrefix(into, "uint"):
				msg = fmt.Sprintf("must be a whole number, not %s", got)
			case into == "bool":
				msg = fmt.Sprintf("must be true or false, not %s", got)
			case strings.HasPrefix(into, "float"):
				msg = fmt.Sprintf("must be a number, not %s", got)
			case strings.HasPrefix(into, "[]"):
				msg = fmt.Sprintf("must be a list, not %s", got)
			case strings.HasPrefix(into, "map"):
				msg = fmt.Sprintf("must be a mapping, not %s", got)
			default:
				msg = fmt.Sprintf("must be a single value, not %s", got)
			}
		}
		msgs[i] = msg
	}
	return strings.Join(msgs, "; ")
}

// describe names what a node holds, for a message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return strconv.Quote(n.Value)
}

func nullify(n *yaml.Node) {
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

type field struct {
	typ   reflect.Type
	check string
}

// structFields lists the keys a struct takes, as yaml.v3 reads its tags,
// inline structs included.
func structFields(t reflect.Type) map[string]field {
	fields := map[string]field{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous { // yaml.v3 inlines an unexported embedded struct too
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") {
			for k, v := range structFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = field{typ: f.Type, check: f.Tag.Get("check")}
	}
	return fields
}
