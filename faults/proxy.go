package faults

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy on a fixed local port in front of one upstream server. The fault suite
// puts one in front of PostgreSQL and one in front of S3 for the worker processes, and uses it to
// freeze traffic (Hold) or to make the server unreachable (Refuse) without touching the server.
type Proxy struct {
	upstream string
	addr     string

	mu     sync.Mutex
	ln     net.Listener
	gate   chan struct{} // closed while bytes flow; open (blocking) while held
	conns  map[*link]struct{}
	closed bool
}

// link is one proxied connection: the client side and the upstream side.
type link struct {
	client net.Conn
	done   chan struct{}

	mu       sync.Mutex
	upstream net.Conn
	closed   bool
}

// attach sets the upstream side; false (and up closed) when the link was closed meanwhile.
func (l *link) attach(up net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		up.Close()
		return false
	}
	l.upstream = up
	return true
}

func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	l.client.Close()
	if l.upstream != nil {
		l.upstream.Close()
	}
}

// NewProxy listens on a free local port and forwards every connection to upstream (host:port).
func NewProxy(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gate := make(chan struct{})
	close(gate)
	p := &Proxy{upstream: upstream, addr: ln.Addr().String(), ln: ln, gate: gate, conns: map[*link]struct{}{}}
	go p.serve(ln)
	return p, nil
}

// Addr is the proxy's address (127.0.0.1:port); it stays the same across Refuse.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // the listener was closed (Refuse or Close)
		}
		l := &link{client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed || p.ln != ln {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[l] = struct{}{}
		p.mu.Unlock()
		go p.run(l)
	}
}

// run dials the upstream and copies both ways until either side ends.
func (p *Proxy) run(l *link) {
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.conns, l)
		p.mu.Unlock()
	}()
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	if !l.attach(up) { // refused meanwhile
		return
	}
	finished := make(chan struct{}, 2)
	go func() { p.copy(l, up, l.client); finished <- struct{}{} }()
	go func() { p.copy(l, l.client, up); finished <- struct{}{} }()
	<-finished
}

// copy forwards src to dst, waiting at the gate before every write, so a held proxy keeps
// reading what arrives but passes nothing on.
func (p *Proxy) copy(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			select {
			case <-gate:
			case <-l.done:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && errors.Is(err, io.EOF) {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

// Hold stops forwarding bytes on existing and new connections: requests in flight hang, as on a
// frozen network, until Release.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default: // already held
	}
}

// Release forwards bytes again, starting with what waited.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// Refuse closes the listener and every connection, so that connecting is refused, for d; then
// it listens again on the same port. It returns at once; the channel closes when the proxy
// listens again (or failed to, which it reports).
func (p *Proxy) Refuse(d time.Duration) <-chan error {
	p.shut(false)
	back := make(chan error, 1)
	go func() {
		time.Sleep(d)
		back <- p.listenAgain()
		close(back)
	}()
	return back
}

// listenAgain listens on the proxy's port again after Refuse; the port may take a moment to be
// free for reuse.
func (p *Proxy) listenAgain() error {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				ln.Close()
				return nil
			}
			p.ln = ln
			p.mu.Unlock()
			go p.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("proxy %s: listen again: %w", p.addr, err)
}

// Close stops the proxy and every connection.
func (p *Proxy) Close() { p.shut(true) }

// shut closes the listener and every connection; for good (and released) when final.
func (p *Proxy) shut(final bool) {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	clear(p.conns)
	if final {
		p.closed = true
		select {
		case <-p.gate:
		default:
			close(p.gate)
		}
	}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, l := range links {
		l.close()
	}
}
