package ctiapi

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/switchboard-cc/switchboard/internal/engine"
)

func (c *Common) common() *Common { return c }

type hasCommon interface{ common() *Common }

func commonOf(b any) *Common {
	if h, ok := b.(hasCommon); ok {
		return h.common()
	}
	return &Common{}
}

// validate applies the body's struct tags to a decoded body (a pointer to a
// struct): required fields must be present, enumerated strings must be one
// of their values, minimum integers respected, patterned strings
// matched; absent fields with a default
// get it. The same tags make the OpenAPI schema.
func validate(b any) *Error {
	v := reflect.ValueOf(b).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			continue
		}
		name := jsonName(f)
		fv := v.Field(i)
		absent := (fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Slice) && fv.IsNil()
		if absent {
			if f.Tag.Get("required") == "true" {
				return missing(name)
			}
			if def := f.Tag.Get("default"); def != "" && fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.String {
				fv.Set(reflect.ValueOf(&def))
			}
			continue
		}
		if enum := f.Tag.Get("enum"); enum != "" {
			s := fv.Elem().String()
			if _, err := enumValue(name, &s, "", strings.Split(enum, ",")...); err != nil {
				return err
			}
		}
		if pat := f.Tag.Get("pattern"); pat != "" && fv.Kind() == reflect.Pointer && fv.Elem().Kind() == reflect.String {
			if v := fv.Elem().String(); !patternRegexp(pat).MatchString(v) {
				if pat == connIDPattern {
					return apiErr(CodeInvalid, "field %q: %q is not a ConnID (16 lowercase hex digits)", name, v)
				}
				return apiErr(CodeInvalid, "field %q: %q does not match %s", name, v, pat)
			}
		}
		if min := f.Tag.Get("minimum"); min != "" && fv.Kind() == reflect.Pointer && fv.Elem().CanInt() {
			m, _ := strconv.ParseInt(min, 10, 64)
			if fv.Elem().Int() < m {
				return apiErr(CodeInvalid, "field %q: %d is less than %d", name, fv.Elem().Int(), m)
			}
		}
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String {
			for j := range fv.Len() {
				if fv.Index(j).String() == "" {
					return apiErr(CodeInvalid, "field %q: item %d is empty", name, j)
				}
			}
		}
	}
	return nil
}

var patterns sync.Map // pattern -> *regexp.Regexp

func patternRegexp(p string) *regexp.Regexp {
	if re, ok := patterns.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile(p)
	patterns.Store(p, re)
	return re
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// forwardMode maps the API's (and Extensions.ForwardMode's) names to the
// engine's forwarding mode. validate has checked the name.
func forwardMode(s string) engine.ForwardMode {
	switch s {
	case "OnBusy":
		return engine.ForwardOnBusy
	case "OnNoAnswer":
		return engine.ForwardOnNoAnswer
	case "OnBusyAndNoAnswer":
		return engine.ForwardOnBusyAndNoAnswer
	}
	return engine.ForwardUnconditional
}
