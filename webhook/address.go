package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy says which addresses deliveries may reach. The zero value is the safe
// default for a hosted service: https only, public addresses only, so a tenant
// cannot point an endpoint at the host's own network (a metadata service, a
// database). A self-hosted product on a private network allows more, explicitly.
type Policy struct {
	AllowHTTP    bool // plain http:// URLs too
	AllowPrivate bool // loopback, private, link-local and other non-public addresses too
}

// ErrAddress is returned for a URL or an address the policy refuses.
var ErrAddress = errors.New("webhook: address not allowed")

// CheckURL parses an endpoint URL and checks what can be checked without
// connecting: the scheme, the host, no credentials, and, for a literal IP, the
// address. A host name is checked again on every connection (Client), after DNS, so
// a name that later resolves to a private address (DNS rebinding) is refused then.
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	if len(raw) > 2048 {
		return nil, fmt.Errorf("%w: the URL is longer than 2048 bytes", ErrAddress)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a URL", ErrAddress, raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowHTTP {
			return nil, fmt.Errorf("%w: only https URLs are allowed", ErrAddress)
		}
	default:
		return nil, fmt.Errorf("%w: the URL must start with https://", ErrAddress)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: the URL must not hold credentials", ErrAddress)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%w: the URL must not have a fragment", ErrAddress)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("%w: the URL has no host", ErrAddress)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckIP(ip); err != nil {
			return nil, err
		}
	} else if !p.AllowPrivate && (host == "localhost" || strings.HasSuffix(host, ".localhost") || !strings.Contains(host, ".")) {
		return nil, fmt.Errorf("%w: %q is not a public host name", ErrAddress, host)
	}
	return u, nil
}

// CheckIP refuses an address that is not public, unless the policy allows private
// ones.
func (p Policy) CheckIP(ip netip.Addr) error {
	if p.AllowPrivate {
		return nil
	}
	if !Public(ip) {
		return fmt.Errorf("%w: %s is not a public address", ErrAddress, ip)
	}
	return nil
}

// nonPublic are the special-purpose ranges netip's predicates do not name.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: checked by its IPv4 address below
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo, ORCHID…)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: wraps an IPv4 address
}

// Public reports whether ip is a public unicast address: not loopback, private,
// link-local (cloud metadata services live there), multicast, unspecified or
// another special-purpose range. An IPv4 address inside IPv6 is judged as IPv4.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	if ip.Zone() != "" {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Client returns the HTTP client deliveries use: every connection's address is
// checked after DNS resolution (so a host name cannot be rebound to a private
// address between registration and delivery), redirects are not followed (a
// redirect's answer is the attempt's answer), no proxy from the environment is
// used, and each request ends after timeout.
func (p Policy) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrAddress, address)
			}
			return p.CheckIP(ap.Addr())
		},
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
