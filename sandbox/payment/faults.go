package payment

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Faults are the payment provider's switches. The zero value is a healthy provider.
type Faults struct {
	// LatencyMS delays every API request by this many milliseconds.
	LatencyMS int `json:"latency_ms"`
	// ErrorRate is the probability (0..1) that an API request fails with 500 api_error
	// before it executes (nothing is charged and nothing is saved for its key).
	ErrorRate float64 `json:"error_rate"`
	// ErrorNext makes the next N API requests fail like ErrorRate does.
	ErrorNext int `json:"error_next"`
	// DeclineRate is the probability (0..1) that a valid confirmed charge is declined.
	DeclineRate float64 `json:"decline_rate"`
	// Outage answers every API request with 503 until switched off.
	Outage bool `json:"outage"`
}

func (f Faults) validate() error {
	var errs []error
	if f.LatencyMS < 0 || f.LatencyMS > 60_000 {
		errs = append(errs, fmt.Errorf("latency_ms %d out of range 0..60000", f.LatencyMS))
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		errs = append(errs, fmt.Errorf("error_rate %v out of range 0..1", f.ErrorRate))
	}
	if f.DeclineRate < 0 || f.DeclineRate > 1 {
		errs = append(errs, fmt.Errorf("decline_rate %v out of range 0..1", f.DeclineRate))
	}
	if f.ErrorNext < 0 {
		errs = append(errs, fmt.Errorf("error_next %d is negative", f.ErrorNext))
	}
	return errors.Join(errs...)
}

// faultsPatch is the body of POST /_sandbox/faults: fields left out keep their value.
type faultsPatch struct {
	LatencyMS   *int     `json:"latency_ms"`
	ErrorRate   *float64 `json:"error_rate"`
	ErrorNext   *int     `json:"error_next"`
	DeclineRate *float64 `json:"decline_rate"`
	Outage      *bool    `json:"outage"`
}

func (p faultsPatch) apply(f Faults) Faults {
	if p.LatencyMS != nil {
		f.LatencyMS = *p.LatencyMS
	}
	if p.ErrorRate != nil {
		f.ErrorRate = *p.ErrorRate
	}
	if p.ErrorNext != nil {
		f.ErrorNext = *p.ErrorNext
	}
	if p.DeclineRate != nil {
		f.DeclineRate = *p.DeclineRate
	}
	if p.Outage != nil {
		f.Outage = *p.Outage
	}
	return f
}

// Environment variables read by FaultsFromEnv.
const (
	EnvLatencyMS   = "PRINTFLEET_SANDBOX_PAYMENT_LATENCY_MS"
	EnvErrorRate   = "PRINTFLEET_SANDBOX_PAYMENT_ERROR_RATE"
	EnvDeclineRate = "PRINTFLEET_SANDBOX_PAYMENT_DECLINE_RATE"
	EnvOutage      = "PRINTFLEET_SANDBOX_PAYMENT_OUTAGE"
)

// FaultsFromEnv reads the start-up switches; getenv is usually os.Getenv.
func FaultsFromEnv(getenv func(string) string) (Faults, error) {
	var f Faults
	var errs []error
	if v := strings.TrimSpace(getenv(EnvLatencyMS)); v != "" {
		n, err := strconv.Atoi(v)
		errs = append(errs, wrapEnv(EnvLatencyMS, err))
		f.LatencyMS = n
	}
	if v := strings.TrimSpace(getenv(EnvErrorRate)); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		errs = append(errs, wrapEnv(EnvErrorRate, err))
		f.ErrorRate = x
	}
	if v := strings.TrimSpace(getenv(EnvDeclineRate)); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		errs = append(errs, wrapEnv(EnvDeclineRate, err))
		f.DeclineRate = x
	}
	if v := strings.TrimSpace(getenv(EnvOutage)); v != "" {
		b, err := strconv.ParseBool(v)
		errs = append(errs, wrapEnv(EnvOutage, err))
		f.Outage = b
	}
	if err := errors.Join(errs...); err != nil {
		return Faults{}, err
	}
	return f, f.validate()
}

func wrapEnv(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}
