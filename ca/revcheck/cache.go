package revcheck

import (
	"container/list"
	"sync"
	"time"
)

// entry is one cached answer: the status of one certificate from OCSP, or
// a whole CRL, which answers for every certificate of its issuer.
type entry struct {
	key     string
	expires time.Time
	result  Result
	crl     *crlList
}

// lru holds at most max entries, dropping the least recently used, so
// that certificates naming many distinct URLs cannot grow it unbounded.
type lru struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used
	byKey map[string]*list.Element
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the entry for key if it is still valid at now.
func (l *lru) get(key string, now time.Time) *entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.byKey[key]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		l.order.Remove(el)
		delete(l.byKey, key)
		return nil
	}
	l.order.MoveToFront(el)
	return e
}

func (l *lru) put(e *entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[e.key]; ok {
		el.Value = e
		l.order.MoveToFront(el)
		return
	}
	l.byKey[e.key] = l.order.PushFront(e)
	for l.order.Len() > l.max {
		last := l.order.Back()
		l.order.Remove(last)
		delete(l.byKey, last.Value.(*entry).key)
	}
}

func (l *lru) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}
