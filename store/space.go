package store

import (
	"errors"
	"fmt"
	"strings"
)

// AppPrefix is the file path prefix under which application namespaces
// live: application NAME's record KEY is the file "app/NAME/KEY". Static
// file serving and the admin file API never touch paths under it.
const AppPrefix = "app/"

// MaxAppName bounds an application name.
const MaxAppName = 32

// ErrQuota is returned by a Space change that would take the namespace
// past its quota; nothing was changed.
var ErrQuota = errors.New("store: application quota exceeded")

// Space is one application's namespace in the store: records addressed by
// key under "app/NAME/", with a byte quota (the sum of key and data
// lengths of its records). Every change is one store transaction, all of
// it or none. A Space gives no access to anything outside its namespace:
// not another application's records, files, configuration, the PIN, the
// PUK or the keys.
type Space struct {
	s     *Store
	name  string
	quota int
}

// ValidAppName reports whether name is a usable application name: 1 to
// MaxAppName characters from [a-z0-9-], starting with a letter.
func ValidAppName(name string) bool {
	if name == "" || len(name) > MaxAppName || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Space returns application name's namespace with a quota of quota bytes
// (at most the data area's capacity).
func (s *Store) Space(name string, quota int) (*Space, error) {
	if !ValidAppName(name) {
		return nil, fmt.Errorf("store: bad application name %q", name)
	}
	if quota < 0 || quota > s.Capacity() {
		return nil, fmt.Errorf("store: quota %d outside [0, %d]", quota, s.Capacity())
	}
	// No prefix string is kept: a Space allocates nothing but itself.
	return &Space{s: s, name: name, quota: quota}, nil
}

// SpaceOf is Space by value, without an error or an allocation, for a
// caller that keeps only the name and quota it checked once with Space
// (the application host makes one per call). A bad name or quota gives a
// namespace without access: no records, and a zero quota.
func (s *Store) SpaceOf(name string, quota int) Space {
	if !ValidAppName(name) || quota < 0 || quota > s.Capacity() {
		return Space{s: s}
	}
	return Space{s: s, name: name, quota: quota}
}

// Name is the application's name.
func (sp *Space) Name() string { return sp.name }

// Quota is the namespace's byte quota.
func (sp *Space) Quota() int { return sp.quota }

// plen is the length of the namespace's path prefix "app/NAME/".
func (sp *Space) plen() int { return len(AppPrefix) + len(sp.name) + 1 }

// in reports whether file path p lies in the namespace.
func (sp *Space) in(p string) bool {
	n := len(AppPrefix) + len(sp.name)
	return len(p) > n && p[n] == '/' && strings.HasPrefix(p, AppPrefix) && p[len(AppPrefix):n] == sp.name
}

func (sp *Space) usedIn(d *dataState) (used, n int) {
	for p, f := range d.files {
		if sp.in(p) {
			used += len(p) - sp.plen() + len(f.Data)
			n++
		}
	}
	return used, n
}

// Used reports the bytes the namespace's records take (keys and data).
func (sp *Space) Used() int { u, _ := sp.usedIn(sp.s.ds); return u }

// Len reports the number of records.
func (sp *Space) Len() int { _, n := sp.usedIn(sp.s.ds); return n }

func (sp *Space) path(key string) (string, error) {
	if key == "" || sp.plen()+len(key) > MaxPathLen {
		return "", fmt.Errorf("store: bad record key length %d", len(key))
	}
	return AppPrefix + sp.name + "/" + key, nil
}

// Get appends the record key's data to dst[:0] and returns it (no
// allocation when dst has room); ok is false when there is no such record.
func (sp *Space) Get(key string, dst []byte) (data []byte, ok bool) {
	if sp.plen()+len(key) > MaxPathLen {
		return dst[:0], false
	}
	var buf [MaxPathLen]byte
	n := copy(buf[:], AppPrefix)
	n += copy(buf[n:], sp.name)
	buf[n] = '/'
	n++
	n += copy(buf[n:], key)
	f, ok := sp.s.ds.files[string(buf[:n])] // the compiler does not allocate for this lookup
	if !ok {
		return dst[:0], false
	}
	return append(dst[:0], f.Data...), true
}

// Keys returns the namespace's record keys, sorted.
func (sp *Space) Keys() []string {
	var ks []string
	for _, p := range sp.s.Files() {
		if sp.in(p) {
			ks = append(ks, p[sp.plen():])
		}
	}
	return ks
}

// Put stores (or replaces) one record in one transaction.
func (sp *Space) Put(key string, data []byte) error {
	return sp.Update(func(b *SpaceBatch) error { b.Put(key, data); return nil })
}

// Delete removes one record in one transaction (ErrNotFound if absent).
func (sp *Space) Delete(key string) error {
	p, err := sp.path(key)
	if err != nil {
		return err
	}
	if _, ok := sp.s.ds.files[p]; !ok {
		return ErrNotFound
	}
	return sp.Update(func(b *SpaceBatch) error { b.Delete(key); return nil })
}

// SpaceBatch stages changes to one namespace (see Space.Update).
type SpaceBatch struct {
	sp  *Space
	b   *Batch
	err error
}

// Put stages storing a record.
func (b *SpaceBatch) Put(key string, data []byte) {
	p, err := b.sp.path(key)
	if err != nil {
		b.err = err
		return
	}
	b.b.PutFile(p, "application/octet-stream", data)
}

// Delete stages removing a record (no error if absent).
func (b *SpaceBatch) Delete(key string) {
	p, err := b.sp.path(key)
	if err != nil {
		b.err = err
		return
	}
	b.b.DeleteFile(p)
}

// Update runs fn on a batch and commits its changes as one transaction:
// all of them, or (fn fails, a key is bad, the quota or the data area
// would be exceeded, the medium fails) none.
func (sp *Space) Update(fn func(b *SpaceBatch) error) error {
	return sp.s.updateData("batch", AppPrefix+sp.name, func(d *dataState) error {
		b := &SpaceBatch{sp: sp, b: &Batch{d: d}}
		if err := fn(b); err != nil {
			return err
		}
		if b.err != nil {
			return b.err
		}
		if b.b.err != nil {
			return b.b.err
		}
		if u, _ := sp.usedIn(d); u > sp.quota {
			return fmt.Errorf("%w: %s would use %d of %d bytes", ErrQuota, sp.name, u, sp.quota)
		}
		return nil
	})
}
