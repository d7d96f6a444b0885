package amqp

import (
	"errors"
	"net"

	"github.com/printfleet/printfleet/platform/errs"
)

// Unavailable reports whether err means a dependency is down rather than
// that the message cannot be handled: an errs.Unavailable error (platform
// stores classify lost database connections so) or a network error. The
// consumer holds such messages and retries them without counting a delivery.
func Unavailable(err error) bool {
	var ne net.Error
	return errs.Is(err, errs.Unavailable) || errors.As(err, &ne)
}
