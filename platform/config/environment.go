package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// EnvVar names the deployment environment: PRINTFLEET_ENV.
const EnvVar = Prefix + "ENV"

// Environments. Development is the default; any other name (production,
// staging, …) is a deployed environment, where Load refuses the published
// development values.
const (
	Development = "development"
	Production  = "production"
)

// Deployed reports whether env is a deployed environment (not development).
func Deployed(env string) bool { return env != Development }

// published are the secret values printed in this repository (scripts/env.sh,
// the end-to-end fleet's layout, the development install in docs/deploy.md,
// the configuration defaults): anyone can read them, so a deployed
// environment must never run on them. A value containing any of them, or
// containing changeMe, is refused.
var published = []string{
	"dev-internal-secret-change-me-0123456789",
	"dev-jwt-secret-change-me-0123456789",
	"ZGV2LWNyZWRlbnRpYWxzLWtleS0zMi1ieXRlcyEhISE=", // catalog credentials key
	"sk_test_printfleet_dev",                       // sandbox payment key
	"printfleet-dev-secret",                        // S3 secret key
	"guest:guest@",                                 // RabbitMQ's default user in an AMQP URL
}

// changeMe marks a placeholder value.
const changeMe = "change-me"

// Published reports whether v holds a published development value or a
// change-me placeholder.
func Published(v string) bool {
	if strings.Contains(strings.ToLower(v), changeMe) {
		return true
	}
	for _, p := range published {
		if strings.Contains(v, p) {
			return true
		}
	}
	return false
}

// EnvChecker is a configuration part with rules of its own for a deployed
// environment (the gateway's JWKS over https, say). Load calls CheckEnv on
// every part of the loaded configuration that implements it, with the
// environment's name.
type EnvChecker interface {
	CheckEnv(env string) error
}

// environment is PRINTFLEET_ENV as l answers it, development when unset.
func environment(l envconfig.Lookuper) (string, error) {
	v, ok := l.Lookup(EnvVar)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return Development, nil
	}
	if strings.ToLower(v) != v || strings.ContainsAny(v, " \t=") {
		return "", fmt.Errorf("%s=%q: use a lower-case name such as %s or %s", EnvVar, v, Development, Production)
	}
	return v, nil
}

// CheckEnv applies the rules of environment env to a loaded cfg (a pointer
// to a struct): outside development no variable may hold a published value
// (Published), and every EnvChecker part's own rules apply. The errors name
// the variables, never their values.
func CheckEnv(env string, cfg any) error {
	var problems []error
	if Deployed(env) {
		for _, v := range Reference(cfg) {
			if Published(v.Default) {
				problems = append(problems, fmt.Errorf("%s holds a published development value or a %s placeholder; set a value of this environment's own", v.Name, changeMe))
			}
		}
	}
	problems = append(problems, checkParts(reflect.ValueOf(cfg), env)...)
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s=%s refuses this configuration: %w", EnvVar, env, errors.Join(problems...))
}

// checkParts calls CheckEnv on v and on every nested struct that implements
// EnvChecker.
func checkParts(v reflect.Value, env string) []error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	var out []error
	if v.CanAddr() {
		if c, ok := v.Addr().Interface().(EnvChecker); ok {
			if err := c.CheckEnv(env); err != nil {
				out = append(out, err)
			}
		}
	} else if c, ok := v.Interface().(EnvChecker); ok {
		if err := c.CheckEnv(env); err != nil {
			out = append(out, err)
		}
	}
	for i := range v.NumField() {
		if v.Type().Field(i).IsExported() {
			out = append(out, checkParts(v.Field(i), env)...)
		}
	}
	return out
}
