package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes and validates the configuration file at path. Unknown
// keys are refused. Every error names the file, the line when known, the
// field path and what is wrong.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(filepath.Base(path), filepath.Dir(path), data)
}

// Parse decodes and validates configuration text; name is used in error
// messages in place of a file name.
func Parse(name string, data []byte) (*File, error) {
	return parse(name, "", data)
}

func parse(name, dir string, data []byte) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	lines := map[string]int{}
	keys := map[string]string{} // "line:key" -> path
	walk(&root, "", lines, keys)

	f := &File{name: name, lines: lines, dir: dir}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			return nil, fmt.Errorf("%s", decodeError(name, te.Errors[0], keys))
		}
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty", name)
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

var (
	reUnknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)
	reLine         = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// decodeError turns a yaml type error into "file:line: path: message".
func decodeError(name, msg string, keys map[string]string) string {
	if m := reUnknownField.FindStringSubmatch(msg); m != nil {
		where := name + ":" + m[1]
		if p, ok := keys[m[1]+":"+m[2]]; ok {
			return fmt.Sprintf("%s: %s: unknown field %q", where, p, m[2])
		}
		return fmt.Sprintf("%s: unknown field %q", where, m[2])
	}
	if m := reLine.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s:%s: %s", name, m[1], m[2])
	}
	return name + ": " + msg
}

// walk records the line of every field path ("tenants[0].dns[3].type") and,
// for each mapping key, the path it would have, keyed by "line:key".
func walk(n *yaml.Node, path string, lines map[string]int, keys map[string]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walk(c, path, lines, keys)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			keys[strconv.Itoa(k.Line)+":"+k.Value] = p
			walk(v, p, lines, keys)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			lines[p] = c.Line
			walk(c, p, lines, keys)
		}
	}
}

// UnmarshalYAML accepts a Go duration string. A bad one is kept and reported
// by Validate with its field path.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	*d = Duration{}
	if n.Kind != yaml.ScalarNode {
		d.bad = "(not a scalar)"
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.bad = n.Value
		return nil
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.Duration.String(), nil }

// UnmarshalYAML accepts "off" or a Go duration string.
func (k *Keepalive) UnmarshalYAML(n *yaml.Node) error {
	*k = Keepalive{}
	if n.Kind == yaml.ScalarNode && n.Value == "off" {
		k.Off = true
		return nil
	}
	return k.Duration.UnmarshalYAML(n)
}

// MarshalYAML writes "off" or the duration string.
func (k Keepalive) MarshalYAML() (any, error) {
	if k.Off {
		return "off", nil
	}
	return k.Duration.MarshalYAML()
}

// UnmarshalYAML accepts a Go duration string or "untimed".
func (w *WrapUp) UnmarshalYAML(n *yaml.Node) error {
	*w = WrapUp{Set: true}
	if n.Kind != yaml.ScalarNode {
		w.bad = "(not a scalar)"
		return nil
	}
	if n.Value == "untimed" {
		w.Untimed = true
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		w.bad = n.Value
		return nil
	}
	w.Time = v
	return nil
}

// MarshalYAML writes "untimed" or the duration string.
func (w WrapUp) MarshalYAML() (any, error) { return w.String(), nil }

// IsZero lets yaml omit an unset wrap-up time.
func (w WrapUp) IsZero() bool { return !w.Set }
