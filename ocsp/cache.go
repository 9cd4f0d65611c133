package ocsp

import (
	"container/list"
	"hash/maphash"
	"sync"
	"time"
)

// response is one pre-signed OCSP response and what the HTTP layer needs
// to describe it (RFC 5019 section 6.2), computed once when it is signed.
type response struct {
	// The DER response is head followed by tail. Every response ends with
	// the responder certificate (the last field of BasicOCSPResponse), so
	// tail is the delegate's own copy of it, shared by all the responses it
	// signed: a cached entry then costs about 1 KB instead of 1.6 KB.
	head, tail []byte
	status     int // golang.org/x/crypto/ocsp Good, Revoked or Unknown
	thisUpdate time.Time
	nextUpdate time.Time
	// refreshAt is when the refresher re-signs it: RefreshBefore ahead of
	// nextUpdate, so that a client never receives a response that is
	// about to lapse.
	refreshAt    time.Time
	etag         string // quoted hex SHA-256 of the DER
	lastModified string // thisUpdate in HTTP date format
	expires      string // nextUpdate in HTTP date format
}

// cacheKey names a response: the same certificate asked about with a
// SHA-1 and with a SHA-256 CertID gets two different responses, because
// the response repeats the request's CertID (RFC 6960 section 4.2.1).
type cacheKey struct {
	serial string // lower-case hex, as in the certificates table
	alg    int    // index into hashes
}

type cacheItem struct {
	key     cacheKey
	resp    *response
	unknown bool // kept on its own, smaller LRU list
}

// flight is one fill (database read and signature) in progress, shared by
// the requests for the same key that arrive meanwhile, so that a burst of
// requests for a just-revoked certificate costs one read and one
// signature.
type flight struct {
	done chan struct{}
	resp *response
	err  error
}

// cache is a bounded map from cacheKey to pre-signed response, split into
// shards so that concurrent requests rarely wait on the same lock. Each
// shard evicts its least recently used entries. Answers for certificates
// we do not know ("unknown") live on a separate, smaller list, so that a
// flood of requests for random serials cannot push out the responses for
// real certificates.
type cache struct {
	seed   maphash.Seed
	shards []shard
}

type shard struct {
	mu         sync.Mutex
	items      map[cacheKey]*list.Element // Value is *cacheItem
	known      list.List                  // front = most recently used
	unknown    list.List
	knownCap   int
	unknownCap int
	flights    map[cacheKey]*flight
	// epoch counts invalidations of this shard's serials. A fill records
	// the epoch before it reads the database and stores its result only if
	// no invalidation came in between; otherwise a response read just
	// before a revocation committed could be stored after the
	// notification dropped the old one, and "good" would be served until
	// the next refresh.
	epoch uint64
}

// newCache makes a cache holding at most size known and unknownSize
// unknown responses in total.
func newCache(size, unknownSize int) *cache {
	n := min(64, size)
	c := &cache{seed: maphash.MakeSeed(), shards: make([]shard, n)}
	for i := range c.shards {
		s := &c.shards[i]
		s.items = make(map[cacheKey]*list.Element)
		s.flights = make(map[cacheKey]*flight)
		// Spread the remainder so that the shard caps add up exactly.
		s.knownCap = size / n
		if i < size%n {
			s.knownCap++
		}
		s.unknownCap = unknownSize / n
		if i < unknownSize%n {
			s.unknownCap++
		}
	}
	return c
}

// shard picks by serial alone, so that all hash variants of a serial
// share a shard and one invalidation covers them.
func (c *cache) shard(serial string) *shard {
	return &c.shards[maphash.String(c.seed, serial)%uint64(len(c.shards))]
}

// lookup returns a response still valid at now, or else the flight that
// will produce one. leader tells the caller to run the fill itself and
// then call finish with the returned epoch.
func (c *cache) lookup(k cacheKey, now time.Time) (resp *response, f *flight, leader bool, epoch uint64) {
	s := c.shard(k.serial)
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[k]; ok {
		it := el.Value.(*cacheItem)
		if now.Before(it.resp.nextUpdate) {
			s.list(it.unknown).MoveToFront(el)
			return it.resp, nil, false, 0
		}
		// Lapsed (the refresher fell behind, or the clock jumped):
		// clients reject a response past its nextUpdate (RFC 5019
		// section 4), so it is re-signed instead.
		s.remove(el)
	}
	if f, ok := s.flights[k]; ok {
		return nil, f, false, 0
	}
	f = &flight{done: make(chan struct{})}
	s.flights[k] = f
	return nil, f, true, s.epoch
}

// finish ends a flight: its waiters get the result, and the cache keeps
// it unless the serial was invalidated while the fill ran.
func (c *cache) finish(k cacheKey, f *flight, resp *response, err error, epoch uint64) {
	s := c.shard(k.serial)
	s.mu.Lock()
	if s.flights[k] == f {
		delete(s.flights, k)
	}
	if err == nil && s.epoch == epoch {
		s.put(k, resp)
	}
	s.mu.Unlock()
	f.resp, f.err = resp, err
	close(f.done)
}

// replace stores a re-signed response in place of a cached one, unless the
// entry was invalidated or evicted since the refresher read the database.
func (c *cache) replace(k cacheKey, resp *response, epoch uint64) bool {
	s := c.shard(k.serial)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != epoch {
		return false
	}
	if _, ok := s.items[k]; !ok {
		return false
	}
	s.put(k, resp)
	return true
}

// invalidate forgets every response for serial and detaches any fill in
// progress, so that the next request reads the database afresh.
func (c *cache) invalidate(serial string) {
	s := c.shard(serial)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	for alg := range hashes {
		k := cacheKey{serial: serial, alg: alg}
		if el, ok := s.items[k]; ok {
			s.remove(el)
		}
		// Waiters already attached keep their answer, which was current
		// when they asked; new requests start a new fill.
		delete(s.flights, k)
	}
}

// flush forgets everything, as invalidate does for one serial, and
// reports how much was dropped.
func (c *cache) flush() (known, unknown int) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.epoch++
		known += s.known.Len()
		unknown += s.unknown.Len()
		s.items = make(map[cacheKey]*list.Element)
		s.flights = make(map[cacheKey]*flight)
		s.known.Init()
		s.unknown.Init()
		s.mu.Unlock()
	}
	return known, unknown
}

// dueItem is a known response the refresher must re-sign, with the epoch
// of its shard before the database is read.
type dueItem struct {
	key   cacheKey
	epoch uint64
}

// due lists the known responses whose refreshAt has come and drops the
// unknown ones: an unknown answer is re-derived only if asked for again,
// because most are for serials nobody will ask about twice.
func (c *cache) due(now time.Time) []dueItem {
	var out []dueItem
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, el := range s.items {
			it := el.Value.(*cacheItem)
			if now.Before(it.resp.refreshAt) {
				continue
			}
			if it.unknown {
				s.remove(el)
				continue
			}
			out = append(out, dueItem{key: k, epoch: s.epoch})
		}
		s.mu.Unlock()
	}
	return out
}

// drop removes one entry unless its shard was invalidated since epoch
// (then it is gone already).
func (c *cache) drop(k cacheKey, epoch uint64) {
	s := c.shard(k.serial)
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[k]; ok && s.epoch == epoch {
		s.remove(el)
	}
}

// len returns the number of known and unknown responses held.
func (c *cache) len() (known, unknown int) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		known += s.known.Len()
		unknown += s.unknown.Len()
		s.mu.Unlock()
	}
	return known, unknown
}

func (s *shard) list(unknown bool) *list.List {
	if unknown {
		return &s.unknown
	}
	return &s.known
}

// put inserts or replaces k and evicts from the back of its list.
func (s *shard) put(k cacheKey, resp *response) {
	unknown := resp.status == statusUnknown
	if el, ok := s.items[k]; ok {
		s.remove(el)
	}
	l, limit := s.list(unknown), s.knownCap
	if unknown {
		limit = s.unknownCap
	}
	if limit <= 0 {
		return
	}
	for l.Len() >= limit {
		s.remove(l.Back())
	}
	s.items[k] = l.PushFront(&cacheItem{key: k, resp: resp, unknown: unknown})
}

func (s *shard) remove(el *list.Element) {
	it := el.Value.(*cacheItem)
	s.list(it.unknown).Remove(el)
	delete(s.items, it.key)
}
