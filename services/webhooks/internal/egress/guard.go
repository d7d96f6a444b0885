package egress

import (
	"fmt"
	"net/netip"
	"strings"
)

// The reasons an address is refused; they are the values of the reason label
// of printfleet_webhooks_egress_refused_total.
const (
	reasonLoopback      = "loopback"
	reasonPrivate       = "private"       // RFC 1918
	reasonLinkLocal     = "link_local"    // 169.254/16 (cloud metadata), fe80::/10
	reasonUniqueLocal   = "unique_local"  // fc00::/7, fec0::/10
	reasonCGNAT         = "cgnat"         // 100.64/10
	reasonUnspecified   = "unspecified"   // 0/8, ::
	reasonMulticast     = "multicast"     // 224/4, ff00::/8
	reasonBroadcast     = "broadcast"     // 255.255.255.255
	reasonDocumentation = "documentation" // documentation and benchmark ranges
	reasonReserved      = "reserved"      // other special-purpose ranges, non-global IPv6
)

var reasons = []string{reasonLoopback, reasonPrivate, reasonLinkLocal, reasonUniqueLocal,
	reasonCGNAT, reasonUnspecified, reasonMulticast, reasonBroadcast, reasonDocumentation, reasonReserved}

type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// blocked4 is every IPv4 range a webhook may not reach (IANA special-purpose
// registry, RFC 6890 and successors). Broadcast comes before 240/4, which
// holds it.
var blocked4 = ranges(
	"0.0.0.0/8", reasonUnspecified,
	"10.0.0.0/8", reasonPrivate,
	"100.64.0.0/10", reasonCGNAT,
	"127.0.0.0/8", reasonLoopback,
	"169.254.0.0/16", reasonLinkLocal,
	"172.16.0.0/12", reasonPrivate,
	"192.0.0.0/24", reasonReserved, // IETF protocol assignments
	"192.0.2.0/24", reasonDocumentation, // TEST-NET-1
	"192.31.196.0/24", reasonReserved, // AS112
	"192.52.193.0/24", reasonReserved, // AMT
	"192.88.99.0/24", reasonReserved, // 6to4 relay anycast
	"192.168.0.0/16", reasonPrivate,
	"192.175.48.0/24", reasonReserved, // AS112 direct delegation
	"198.18.0.0/15", reasonDocumentation, // benchmarking
	"198.51.100.0/24", reasonDocumentation, // TEST-NET-2
	"203.0.113.0/24", reasonDocumentation, // TEST-NET-3
	"224.0.0.0/4", reasonMulticast,
	"255.255.255.255/32", reasonBroadcast,
	"240.0.0.0/4", reasonReserved,
)

// blocked6 is every IPv6 range refused outright. IPv4-mapped (::ffff:0:0/96)
// and NAT64 (64:ff9b::/96) addresses are judged by the IPv4 address they
// carry; everything else outside global unicast 2000::/3 is refused too.
var blocked6 = ranges(
	"::/128", reasonUnspecified,
	"::1/128", reasonLoopback,
	"::/96", reasonReserved, // IPv4-compatible (deprecated)
	"64:ff9b:1::/48", reasonReserved, // local-use NAT64
	"100::/64", reasonReserved, // discard-only
	"2001:db8::/32", reasonDocumentation,
	"2001::/23", reasonReserved, // IETF protocol assignments (Teredo, benchmarking, ORCHID)
	"2002::/16", reasonReserved, // 6to4: embeds any IPv4 address
	"3fff::/20", reasonDocumentation,
	"fc00::/7", reasonUniqueLocal,
	"fec0::/10", reasonUniqueLocal, // site-local (deprecated)
	"fe80::/10", reasonLinkLocal,
	"ff00::/8", reasonMulticast,
)

var (
	global6 = netip.MustParsePrefix("2000::/3")
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
)

func ranges(kv ...string) []blockedRange {
	out := make([]blockedRange, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		out = append(out, blockedRange{netip.MustParsePrefix(kv[i]), kv[i+1]})
	}
	return out
}

// blockReason says why addr may not be reached, or "" when it may.
func blockReason(addr netip.Addr) string {
	addr = addr.WithZone("")
	if !addr.IsValid() {
		return reasonUnspecified
	}
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	if addr.Is4() {
		for _, r := range blocked4 {
			if r.prefix.Contains(addr) {
				return r.reason
			}
		}
		return ""
	}
	if nat64.Contains(addr) {
		b := addr.As16()
		return blockReason(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	for _, r := range blocked6 {
		if r.prefix.Contains(addr) {
			return r.reason
		}
	}
	if !global6.Contains(addr) {
		return reasonReserved
	}
	return ""
}

// allowList is the development exemption from the guard: exact "ip:port"
// pairs and CIDR ranges (any port).
type allowList struct {
	addrs    map[netip.AddrPort]bool
	prefixes []netip.Prefix
}

func parseAllow(entries []string) (allowList, error) {
	a := allowList{addrs: map[netip.AddrPort]bool{}}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if ap, err := netip.ParseAddrPort(e); err == nil {
			a.addrs[netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())] = true
			continue
		}
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return a, fmt.Errorf("egress: allow entry %q is neither ip:port nor a CIDR", e)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		a.prefixes = append(a.prefixes, p.Masked())
	}
	return a, nil
}

func (a allowList) allows(ap netip.AddrPort) bool {
	addr := ap.Addr().Unmap().WithZone("")
	if a.addrs[netip.AddrPortFrom(addr, ap.Port())] {
		return true
	}
	for _, p := range a.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
